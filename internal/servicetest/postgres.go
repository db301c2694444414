package servicetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Postgres is a PostgreSQL server started for a test, with trust authentication on loopback.
type Postgres struct {
	Port int
	DSN  string // postgres://casket@127.0.0.1:port/postgres?sslmode=disable
	srv  *server
}

// pgBin finds a PostgreSQL server program on PATH or in Debian's versioned folders.
func pgBin(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		return "", false
	}
	return m[len(m)-1], true
}

// StartPostgres runs initdb in a temporary folder and starts postgres on a free loopback port. As root it
// runs both as the "postgres" user (PostgreSQL refuses to run as root).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb, ok1 := pgBin("initdb")
	postgres, ok2 := pgBin("postgres")
	if !ok1 || !ok2 {
		missing(t, "PostgreSQL (initdb, postgres)", "apt-get install -y postgresql")
	}
	// not t.TempDir: its parents are private to the current user, and postgres may run as another one
	dir, err := os.MkdirTemp("", "casket-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	cred, err := asServiceUser(data)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(initdb, "-D", data, "-U", "casket", "--auth=trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = cred
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	p := &Postgres{Port: port, DSN: fmt.Sprintf("postgres://casket@127.0.0.1:%d/postgres?sslmode=disable", port)}
	p.srv = newServer(t, "postgres", dir, fmt.Sprintf("127.0.0.1:%d", port), func() *exec.Cmd {
		c := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "max_connections=200")
		c.SysProcAttr = cred
		return c
	})
	p.srv.start()
	return p
}

// Stop shuts the server down (fast shutdown: clients are disconnected at once); Start brings it back
// with its data.
func (p *Postgres) Stop() { p.srv.stop(false) }

// Start starts a stopped server again on the same port.
func (p *Postgres) Start() { p.srv.start() }

// Log returns the server's output so far.
func (p *Postgres) Log() string { return p.srv.output() }
