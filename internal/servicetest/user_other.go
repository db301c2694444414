//go:build !unix

package servicetest

import "syscall"

func asServiceUser(string) (*syscall.SysProcAttr, error) { return nil, nil }
