//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestE2EQUICUpgrade: a USR2 upgrade with -quic hands the UDP socket to the new process with the TCP
// ones: the upgrade succeeds, and HTTP/3 answers from the new process (its configuration) on the same
// port after the old one exited.
func TestE2EQUICUpgrade(t *testing.T) {
	needBinary(t)
	port, httpPort, dir := freePort(t), freePort(t), t.TempDir()
	if !udpFree(port) {
		t.Fatalf("UDP port %s is taken", port)
	}
	conf := writeConf(t, dir, quicConf(port, "old"))
	pidfile, logPath := filepath.Join(dir, "casket.pid"), filepath.Join(dir, "out.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("casket output:\n%s", b)
		}
	})
	// output goes to a file: a successor inherits it, and a pipe would keep Wait blocked until it exits
	p := newProc(t, env{"CASKETPATH": filepath.Join(dir, "casketpath")}, "-quic", "-conf", conf, "-http-port", httpPort,
		"-log", "stderr", "-pidfile", pidfile, "-grace", "5s")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.start()
	url := "https://localhost:" + port + "/hello.txt"
	answers := func(marker string) func() bool {
		return func() bool {
			h3, err := getH3(url)
			return err == nil && h3.status == 200 && h3.proto == "HTTP/3.0" && h3.config == marker && h3.body == "hello e2e\n"
		}
	}
	waitFor(t, 15*time.Second, answers("old"), "HTTP/3 from the first process")

	oldPid := p.cmd.Process.Pid
	writeConf(t, dir, quicConf(port, "new"))
	p.signal(syscall.SIGUSR2)
	newPid := readPid(t, pidfile, oldPid)
	killLater(t, newPid)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("old process exit code %d, want 0", code)
	}
	waitFor(t, 10*time.Second, answers("new"), "HTTP/3 from the new process after the old one exited")

	if err := syscall.Kill(newPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500 && alive(newPid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(newPid) {
		t.Fatal("new process did not stop on SIGTERM")
	}
	if !udpFree(port) {
		t.Errorf("UDP port %s still bound after the new process exited", port)
	}
}
