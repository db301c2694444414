package servicetest

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
)

// Redis is a redis-server started for a test, with append-only persistence so that its data survives
// Restart.
type Redis struct {
	Host string // 127.0.0.1
	Port int
	Addr string // host:port
	srv  *server
}

// StartRedis starts redis-server on a free loopback port with a temporary data folder.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server", "apt-get install -y redis-server")
	}
	dir := t.TempDir()
	port := freePort(t)
	r := &Redis{Host: "127.0.0.1", Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	r.srv = newServer(t, "redis", dir, r.Addr, func() *exec.Cmd {
		return exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no")
	})
	r.srv.start()
	return r
}

// Stop kills the server (as a crash would); Start brings it back with its data.
func (r *Redis) Stop() { r.srv.stop(true) }

// Start starts a stopped server again on the same port.
func (r *Redis) Start() { r.srv.start() }

// Log returns the server's output so far.
func (r *Redis) Log() string { return r.srv.output() }
