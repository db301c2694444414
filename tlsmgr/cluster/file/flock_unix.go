//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// flockSupported reports whether this system has flock(2).
const flockSupported = true

// errLocked reports that another open file holds the lock.
var errLocked = unix.EWOULDBLOCK

// tryLock takes an exclusive flock on f without waiting; errLocked if another open file holds one.
// Linux NFS clients turn it into a POSIX lock on the server.
func tryLock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK), errors.Is(err, unix.EAGAIN):
			return errLocked
		}
		return err
	}
}

// unsupported reports whether err from tryLock means the file system cannot lock files at all.
func unsupported(err error) bool {
	return errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

// unlock drops the flock on f.
func unlock(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }

// syncFolder makes the entries of dir (a rename in it) durable.
func syncFolder(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
