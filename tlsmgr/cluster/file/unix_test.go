//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/file"
	"golang.org/x/sys/unix"
)

// The tests below re-run the test binary as a child process (TestHelperProcess) that takes the guard
// flock or a lease and is then killed with SIGKILL, as a crashed Casket would be.
const (
	helperMode = "CASKET_FILE_TEST_HELPER"
	helperDir  = "CASKET_FILE_TEST_DIR"
	helperLock = "issue_cert_crashed.example"
)

// TestHelperProcess is the child process; it does nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDir)
	switch os.Getenv(helperMode) {
	case "":
		return
	case "guard":
		f, err := os.OpenFile(filepath.Join(dir, "locks", ".guard"), os.O_RDWR|os.O_CREATE, 0o600)
		if err == nil {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("ready")
	case "lease":
		s, err := file.New(dir, file.Options{Lock: cluster.LockOptions{
			Holder: "child", TTL: time.Second, RenewEvery: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		}})
		if err == nil {
			err = s.Lock(context.Background(), helperLock)
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fence, _ := s.Fence(helperLock)
		fmt.Println("ready", fence)
	case "contend":
		if err := contend(dir); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	time.Sleep(time.Minute) // until killed
	os.Exit(3)
}

// startHelper starts the child in mode on dir and returns it once it reports "ready", with the rest of
// that line.
func startHelper(t *testing.T, mode, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperMode+"="+mode, helperDir+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "ready"); ok {
				lines <- strings.TrimSpace(rest)
				return
			}
			t.Logf("child: %s", sc.Text())
		}
		close(lines)
	}()
	select {
	case rest, ok := <-lines:
		if !ok {
			t.Fatal("the child process exited before it was ready")
		}
		return cmd, rest
	case <-time.After(20 * time.Second):
		t.Fatal("the child process did not get ready")
	}
	return nil, ""
}

// kill ends the child with SIGKILL and waits for it.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestKilledGuardHolder shows that the guard flock of a killed process blocks nobody: while the child
// holds it every lock operation waits (and gives up when its context ends), and once the child is
// killed they go through at once.
func TestKilledGuardHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newClient(t, dir, "parent")
	cmd, _ := startHelper(t, "guard", dir)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.ExpireLock(ctx, "x"); err == nil {
		t.Fatal("ExpireLock went through while another process held the guard")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("waiting for the guard took %v past the context's end", d)
	}
	start = time.Now()
	if ok, err := s.TryLock(context.Background(), "x"); ok || err == nil {
		t.Fatalf("TryLock while another process held the guard = %v, %v; want an error", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("TryLock waited %v for the guard; the lease TTL (1s) bounds it", d)
	}

	kill(t, cmd)
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Lock(ctx, "x"); err != nil {
		t.Fatalf("Lock after the guard holder was killed: %v", err)
	}
	if err := s.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

// TestKilledLeaseHolder shows that the lock of a killed process frees itself within the lease's TTL and
// that the next holder gets a larger fencing token.
func TestKilledLeaseHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newClient(t, dir, "parent")
	cmd, rest := startHelper(t, "lease", dir)
	childFence, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		t.Fatalf("child's fencing token %q: %v", rest, err)
	}
	ctx := context.Background()
	if h, _, ok, err := s.LockHolder(ctx, helperLock); err != nil || !ok || h != "child" {
		t.Fatalf("LockHolder = %q, %v, %v; want the child", h, ok, err)
	}
	if ok, err := s.TryLock(ctx, helperLock); ok || err != nil {
		t.Fatalf("TryLock of the child's lock = %v, %v; want false", ok, err)
	}

	kill(t, cmd)
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Lock(lctx, helperLock); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("the killed process's lock took %v to free; TTL is 1s", d)
	}
	if f, _ := s.Fence(helperLock); f <= childFence {
		t.Errorf("fencing token %d after the child's %d", f, childFence)
	}
	if h, _, ok, _ := s.LockHolder(ctx, helperLock); !ok || h != "parent" {
		t.Errorf("LockHolder = %q, %v; want parent", h, ok)
	}
}

// TestPermissions checks that private keys and lock files are readable by their owner only, in folders
// only their owner can enter.
func TestPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "casket")
	s := newClient(t, dir, "")
	ctx := context.Background()
	key := certmagic.StorageKeys.SitePrivateKey("acme-v02.api.letsencrypt.org-directory", "*.example.com")
	if err := s.Lock(ctx, cluster.IssueLockPrefix+"*.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.Store(ctx, key, []byte("-----BEGIN EC PRIVATE KEY-----")); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, cluster.IssueLockPrefix+"*.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock(ctx, "other"); err != nil { // leaves a lease file to check
		t.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
		t.Errorf("private key not at its FileStorage path: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "locks"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Contains(names, ".guard") || !slices.Contains(names, ".fence") || len(names) != 3 {
		t.Errorf("locks folder holds %q; want .guard, .fence and one lease", names)
	}
}

// contend takes and releases one lock in dir contendRounds times; inside, it creates the marker file
// "inside" exclusively, which fails if another holder is inside too.
func contend(dir string) error {
	s, err := file.New(dir, file.Options{Lock: cluster.LockOptions{
		TTL: time.Second, RenewEvery: 300 * time.Millisecond, PollInterval: 5 * time.Millisecond,
	}})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	marker := filepath.Join(dir, "inside")
	for range contendRounds {
		if err := s.Lock(ctx, "contended"); err != nil {
			return err
		}
		f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("two holders inside the lock: %w", err)
		}
		f.Close()
		time.Sleep(2 * time.Millisecond)
		if err := os.Remove(marker); err != nil {
			return err
		}
		if err := s.Unlock(ctx, "contended"); err != nil {
			return err
		}
	}
	return nil
}

const contendRounds = 15

// TestProcessesExclude runs several processes that take the same lock over and over at the same time:
// never are two inside at once.
func TestProcessesExclude(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var cmds []*exec.Cmd
	outs := make([]*strings.Builder, 3)
	for i := range outs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperMode+"=contend", helperDir+"="+dir)
		outs[i] = new(strings.Builder)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	// every round took a fresh fencing token
	b, err := os.ReadFile(filepath.Join(dir, "locks", ".fence"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n != 3*contendRounds {
		t.Errorf("fencing counter %d after %d acquisitions", n, 3*contendRounds)
	}
}
