//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package file

import (
	"errors"
	"os"
)

// flockSupported is false: this system has no file lock this package knows how to use.
const flockSupported = false

var errLocked = errors.ErrUnsupported

func tryLock(*os.File) error  { return errors.ErrUnsupported }
func unlock(*os.File) error   { return errors.ErrUnsupported }
func unsupported(error) bool  { return true }
func syncFolder(string) error { return nil }
