package main

import (
	"fmt"
	"net"
	"strings"
)

// sdNotify sends state to the service manager's notification socket (systemd's sd_notify protocol),
// named by the NOTIFY_SOCKET value socket; it does nothing when socket is empty (not under systemd).
// A name starting with @ is an abstract socket.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if strings.HasPrefix(socket, "@") {
		socket = "\x00" + socket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notifying the service manager: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notifying the service manager: %w", err)
	}
	return nil
}
