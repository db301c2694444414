//go:build windows

package file

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// flockSupported reports whether this system has file locks.
const flockSupported = true

// errLocked reports that another open file holds the lock.
var errLocked = errors.New("file locked by another handle")

// tryLock takes an exclusive lock on the first byte of f without waiting; errLocked if another handle
// holds it.
func tryLock(f *os.File) error {
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
		0, 1, 0, new(windows.Overlapped))
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

// unsupported reports whether err from tryLock means the file system cannot lock files at all.
func unsupported(err error) bool { return errors.Is(err, windows.ERROR_NOT_SUPPORTED) }

// unlock drops the lock on f.
func unlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
}

// syncFolder is a no-op: Windows cannot sync a folder, and renames on NTFS are journaled.
func syncFolder(string) error { return nil }
