package accesslog

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	w, err := OpenDestination("syslog+udp://"+pc.LocalAddr().String(), DefaultRotation())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("GET / 200\n")); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// <30> is facility daemon (3) * 8 + severity info (6).
	if !strings.HasPrefix(msg, "<30>") || !strings.Contains(msg, "casket") || !strings.Contains(msg, "GET / 200") {
		t.Errorf("syslog message = %q", msg)
	}
}

func TestRotationBySize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes over a megabyte")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "access.log")
	w, err := OpenDestination(file, Rotation{MaxSizeMB: 1, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for i := 0; i < 1500; i++ {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("files = %v, want the current file and one rotated file", entries)
	}
	for _, e := range entries {
		fi, _ := e.Info()
		if fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over the 1 MB rotation size", e.Name(), fi.Size())
		}
	}
}

func TestDestinationValidation(t *testing.T) {
	for _, tc := range []struct {
		dest string
		ok   bool
	}{
		{"stdout", true}, {"stderr", true}, {"syslog", true}, {"a/b.log", true},
		{"syslog://h:514", true}, {"syslog+udp://h:514", true}, {"syslog+tcp://h:514", true},
		{"", false}, {"syslog://h", false}, {"syslog+quic://h:1", false},
	} {
		if err := ValidateDestination(tc.dest); (err == nil) != tc.ok {
			t.Errorf("ValidateDestination(%q) = %v, want ok=%v", tc.dest, err, tc.ok)
		}
	}
}
