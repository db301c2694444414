//go:build windows

package main

// getNofile reports no limit: Windows has no RLIMIT_NOFILE.
func getNofile() (uint64, bool) { return 0, false }
