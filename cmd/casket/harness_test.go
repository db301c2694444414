package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// casketBin is the binary built once by TestMain for the end-to-end tests ("" under -short).
var casketBin string

// e2eDir is testdata/e2e, the working directory of every process the end-to-end tests start.
var e2eDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "casket-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	casketBin = filepath.Join(tmp, "casket")
	build := exec.Command("go", "build", "-o", casketBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building casket:", err)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	e2eDir, _ = filepath.Abs(filepath.Join("..", "..", "testdata", "e2e"))
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// needBinary skips end-to-end tests under -short, where TestMain built nothing.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test; skipped under -short")
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine and the test's readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running casket process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// env is the environment passed to casket: the test's own plus the e2e variables.
type env map[string]string

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		// Below the kernel's ephemeral range (32768+), so neither other test processes' ":0" listeners
		// nor the source ports of their client connections can take the port before casket binds it.
		port := 20000 + rand.IntN(12000)
		if portsUsed[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		portsUsed[port] = true
		return fmt.Sprint(port)
	}
	t.Fatal("no free port found between 20000 and 32000")
	return ""
}

// portsUsed remembers the ports freePort handed out, so two tests never get the same one.
var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// newProc prepares (but does not start) casket with args in testdata/e2e.
func newProc(t *testing.T, e env, args ...string) *proc {
	t.Helper()
	needBinary(t)
	cmd := exec.Command(casketBin, args...)
	cmd.Dir = e2eDir
	cmd.Env = os.Environ()
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	return p
}

// start starts the process and stops it (SIGKILL) when the test ends if it is still running.
func (p *proc) start() *proc {
	p.t.Helper()
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	p.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if p.t.Failed() {
			p.t.Logf("casket stdout:\n%s\ncasket stderr:\n%s", p.stdout, p.stderr)
		}
	})
	return p
}

// startCasket starts casket and waits until addr accepts connections.
func startCasket(t *testing.T, e env, addr string, args ...string) *proc {
	t.Helper()
	p := newProc(t, e, args...).start()
	p.waitListening(addr)
	return p
}

// waitListening waits until addr accepts TCP connections, failing if the process exits first.
func (p *proc) waitListening(addr string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("casket exited before listening on %s: %v\nstderr:\n%s", addr, p.err, p.stderr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.t.Fatalf("casket did not listen on %s within 15s\nstderr:\n%s", addr, p.stderr)
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("sending %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("casket still running after %v", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// runCasket runs casket to completion (at most 30s) and returns its exit code, stdout and stderr.
func runCasket(t *testing.T, e env, stdin string, args ...string) (int, string, string) {
	t.Helper()
	needBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, casketBin, args...)
	cmd.Dir = e2eDir
	cmd.Env = os.Environ()
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// client is an HTTP client that does not follow redirects and dials every host name to 127.0.0.1, so
// virtual hosts can be addressed by name.
func client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
