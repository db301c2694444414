//go:build windows

package main

import (
	"os"
	"syscall"
)

// noSignal never arrives: Windows has no SIGUSR1, so there is no reload signal.
type noSignal struct{}

func (noSignal) String() string { return "none" }
func (noSignal) Signal()        {}

// sigReload asks for a configuration reload; never delivered on Windows.
var sigReload os.Signal = noSignal{}

// sigUpgrade asks for a binary upgrade; never delivered on Windows.
var sigUpgrade os.Signal = noSignal{}

// closeOnExec does nothing: Windows processes inherit no descriptors unless asked to.
func closeOnExec(int) {}

// handledSignals are the signals serve acts on: Windows only delivers Ctrl+C (INT).
var handledSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
