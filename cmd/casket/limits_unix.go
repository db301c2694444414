//go:build !windows

package main

import "syscall"

// getNofile returns the soft RLIMIT_NOFILE of the process.
func getNofile() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return uint64(l.Cur), true
}
