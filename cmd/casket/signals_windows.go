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

// handledSignals are the signals serve acts on: Windows only delivers Ctrl+C (INT).
var handledSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
