//go:build !windows

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upgradeProc starts casket with its output in files (a successor inherits them; pipes would keep the
// test's Wait blocked until the successor exits) and returns it with the paths of pidfile and log.
// The site has a `prometheus` endpoint on mport, whose socket is handed over as well.
func upgradeProc(t *testing.T, port, mport string) (p *proc, conf, pidfile, logPath string) {
	t.Helper()
	needBinary(t)
	dir := t.TempDir()
	conf = filepath.Join(dir, "Casketfile")
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("http://127.0.0.1:%s {\n\troot %s\n\tprometheus 127.0.0.1:%s\n}\n", port, dir, mport)), 0o644); err != nil {
		t.Fatal(err)
	}
	pidfile, logPath = filepath.Join(dir, "casket.pid"), filepath.Join(dir, "out.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	p = newProc(t, nil, "-conf", conf, "-quiet", "-log", "stderr", "-pidfile", pidfile, "-grace", "10s")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.start()
	p.waitListening("127.0.0.1:" + port)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("casket output:\n%s", b)
		}
	})
	return p, conf, pidfile, logPath
}

// killLater stops pid (a successor the test did not start itself) when the test ends.
func killLater(t *testing.T, pid int) {
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && alive(pid); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestE2EUpgradeUnderLoad(t *testing.T) {
	port, mport := freePort(t), freePort(t)
	p, _, pidfile, _ := upgradeProc(t, port, mport)
	oldPid := p.cmd.Process.Pid
	url := "http://127.0.0.1:" + port + "/"

	var (
		ok, failed atomic.Int64
		errMu      sync.Mutex
		firstErr   error
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	keepAlive := &http.Client{Timeout: 10 * time.Second}
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 8 {
		c := keepAlive
		if i%2 == 1 {
			c = fresh
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(b) != "hello" {
						err = fmt.Errorf("%s %q", resp.Status, b)
					}
				}
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	p.signal(syscall.SIGUSR2)
	newPid := readPid(t, pidfile, oldPid)
	killLater(t, newPid)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("old process exit code %d, want 0", code)
	}
	before := ok.Load()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the upgrade; first: %v", n, n+ok.Load(), firstErr)
	}
	if ok.Load() == before {
		t.Error("no request succeeded after the old process exited")
	}
	if alive(oldPid) {
		t.Errorf("old process %d still running", oldPid)
	}
	if !alive(newPid) {
		t.Fatalf("new process %d not running", newPid)
	}
	t.Logf("%d requests, none failed; pid %d → %d", ok.Load(), oldPid, newPid)
	site := "http://127.0.0.1:" + port
	if m := scrape(t, "http://127.0.0.1:"+mport+"/metrics"); m["casket_http_requests_total{code=200,method=GET,site="+site+"}"] == 0 {
		t.Errorf("the new process's metrics endpoint counts no request:\n%s", keys(m, "casket_http_requests"))
	}

	// The successor is a full server: TERM stops it and removes the pidfile.
	if err := syscall.Kill(newPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500 && alive(newPid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(newPid) {
		t.Fatal("new process did not stop on SIGTERM")
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind after the new process stopped: %v", err)
	}
}

func TestE2EUpgradeBrokenConfigKeepsServing(t *testing.T) {
	port, mport := freePort(t), freePort(t)
	p, conf, pidfile, logPath := upgradeProc(t, port, mport)
	oldPid := p.cmd.Process.Pid
	if err := os.WriteFile(conf, []byte("http://127.0.0.1:"+port+" {\n\tnosuchdirective\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGUSR2)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "upgrade failed; this process keeps serving") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no upgrade failure reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.exited() {
		t.Fatal("old process exited after a failed upgrade")
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after failed upgrade: %s", resp.Status)
	}
	if pid := readPid(t, pidfile, 0); pid != oldPid {
		t.Errorf("pidfile names %d, want the old process %d", pid, oldPid)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
