//go:build !linux

package proxy

import "syscall"

// upstreamSocketControl does nothing where TCP_USER_TIMEOUT is not available.
func upstreamSocketControl(string, string, syscall.RawConn) error { return nil }
