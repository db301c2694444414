// Package servicetest runs the external servers Casket's clustering tests need, redis-server and
// PostgreSQL, on loopback ports with temporary data folders, and stops them when the test ends. A test
// whose server binary is missing is skipped with a loud message, or fails when CASKET_REQUIRE_EXTERNAL=1
// (as in CI).
package servicetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// missing skips t (or fails it under CASKET_REQUIRE_EXTERNAL=1) because what is not installed.
func missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("%s not found; install it with `%s` to run this test", what, install)
	if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
		t.Fatal(msg + " (CASKET_REQUIRE_EXTERNAL=1)")
	}
	t.Skip("SKIPPED, EXTERNAL SERVER MISSING: " + msg)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// server is one restartable child process.
type server struct {
	t    testing.TB
	name string
	addr string
	args func() *exec.Cmd

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

func (s *server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := s.args()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.name, err)
	}
	s.cmd = cmd
	if err := waitTCP(s.addr, 15*time.Second); err != nil {
		s.t.Fatalf("%s did not listen on %s: %v\n%s", s.name, s.addr, err, s.output())
	}
}

func (s *server) stop(kill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if kill {
		_ = s.cmd.Process.Kill()
	} else {
		_ = s.cmd.Process.Signal(os.Interrupt)
		go func(p *os.Process) {
			time.Sleep(10 * time.Second)
			_ = p.Kill()
		}(s.cmd.Process)
	}
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (s *server) output() string {
	b, _ := os.ReadFile(s.log.Name())
	return strings.TrimSpace(string(b))
}

func newServer(t testing.TB, name, dir, addr string, args func() *exec.Cmd) *server {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, name: name, addr: addr, args: args, log: log}
	t.Cleanup(func() {
		s.stop(true)
		log.Close()
	})
	return s
}
