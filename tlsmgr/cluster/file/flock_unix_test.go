//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Lock errors that mean "this file system cannot lock" are told apart from a lock held elsewhere.
func TestUnsupportedLockErrors(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{{unix.ENOLCK, true}, {unix.EOPNOTSUPP, true}, {unix.ENOSYS, true}, {unix.EWOULDBLOCK, false}, {unix.EBADF, false}} {
		if got := unsupported(tt.err); got != tt.want {
			t.Errorf("unsupported(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
