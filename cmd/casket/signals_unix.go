//go:build !windows

package main

import (
	"os"
	"syscall"
)

// sigReload asks for a configuration reload (features.md §1.3).
var sigReload os.Signal = syscall.SIGUSR1

// sigUpgrade asks for a zero-downtime binary upgrade (upgrade.go).
var sigUpgrade os.Signal = syscall.SIGUSR2

// handledSignals are the signals serve acts on.
var handledSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP}

// closeOnExec keeps fd from being inherited by the commands the process runs.
func closeOnExec(fd int) { syscall.CloseOnExec(fd) }
