package main

import (
	"net"
	"path/filepath"
	"testing"
)

func TestSdNotify(t *testing.T) {
	if err := sdNotify("", "MAINPID=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
	path := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := sdNotify(path, "MAINPID=4242"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "MAINPID=4242" {
		t.Errorf("got %q", got)
	}
}
