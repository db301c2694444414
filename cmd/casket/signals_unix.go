//go:build !windows

package main

import (
	"os"
	"syscall"
)

// sigReload asks for a configuration reload (features.md §1.3).
var sigReload os.Signal = syscall.SIGUSR1

// handledSignals are the signals serve acts on.
var handledSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGHUP}
