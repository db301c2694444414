//go:build !linux

package tlsmgr

import "os"

// isTerminal reports whether f is a character device, a close approximation of a terminal.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
