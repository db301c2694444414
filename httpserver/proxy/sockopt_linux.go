package proxy

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeout bounds how long data sent to an upstream may stay unacknowledged before the connection is
// given up. Without it, a request written into a connection whose peer vanished silently (a host powered
// off, a cut link) waits for TCP's retransmissions to run out, about 15 minutes; with it, the request fails
// soon enough to be retried on another upstream (try_duration). A slow upstream that acknowledges what it
// receives is not affected, however long it takes to answer.
const userTimeout = 30 * time.Second

// upstreamSocketControl sets TCP_USER_TIMEOUT on TCP connections to upstreams.
func upstreamSocketControl(network, _ string, c syscall.RawConn) error {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout.Milliseconds()))
	})
	if err != nil {
		return err
	}
	return serr
}
