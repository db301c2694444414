// Package dnstest starts real authoritative DNS servers for Casket's DNS-01 tests: BIND 9 with a zone that
// accepts TSIG-signed dynamic updates, and PowerDNS with the sqlite3 backend and its HTTP API. Both serve
// the zone casket.test on a loopback port, from a fresh temporary folder, until the test ends. When the
// server binary is missing the test is skipped with a loud message, or fails when
// CASKET_REQUIRE_EXTERNAL=1.
package dnstest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is the zone both servers serve. Every name in it resolves to 127.0.0.1 (A only).
const Zone = "casket.test"

// need returns the path of binary, skipping (or failing, under CASKET_REQUIRE_EXTERNAL=1) when missing.
func need(t testing.TB, binary, pkgs string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/local/sbin/", "/sbin/"} {
		if path, err := exec.LookPath(dir + binary); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("*** %s not found: install it (apt-get install -y %s) to run this test ***", binary, pkgs)
	if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a port free on 127.0.0.1 for both TCP and UDP a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port for DNS")
	return 0
}

// process is a server started for a test.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	once sync.Once
}

func startProcess(t testing.TB, name string, path string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(path, args...), out: new(syncBuffer)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
}

// waitReady polls addr until it answers an SOA query for the zone authoritatively.
func waitReady(t testing.TB, name, addr string, p *process) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(Zone+".", dns.TypeSOA)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, addr)
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			return
		}
		if p.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("%s did not start on %s (last: %v)\n%s", name, addr, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TXT returns the TXT strings at name (absolute or relative to Zone) as served by the server at addr.
func TXT(t testing.TB, addr, name string) []string {
	t.Helper()
	if !strings.HasSuffix(strings.TrimSuffix(name, "."), Zone) {
		name += "." + Zone
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("TXT %s at %s: %v", name, addr, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
