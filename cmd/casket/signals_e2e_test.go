package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// writeConf writes a Casketfile into dir and returns its path.
func writeConf(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "Casketfile")
	if err := os.WriteFile(p+".tmp", []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil { // atomic, so a reload never reads half a file
		t.Fatal(err)
	}
	return p
}

func reloadConf(port, marker string) string {
	return fmt.Sprintf("127.0.0.1:%s {\n\troot www\n\theader / X-Config %s\n}\n", port, marker)
}

func TestE2EReload(t *testing.T) {
	needBinary(t)
	port, dir := freePort(t), t.TempDir()
	conf := writeConf(t, dir, reloadConf(port, "one"))
	p := startCasket(t, nil, "127.0.0.1:"+port, "-conf", conf, "-log", "stderr")
	c := client()
	url := "http://127.0.0.1:" + port + "/hello.txt"
	if got := get(t, c, url).header.Get("X-Config"); got != "one" {
		t.Fatalf("X-Config = %q, want one", got)
	}

	writeConf(t, dir, reloadConf(port, "two"))
	p.signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, func() bool { return get(t, c, url).header.Get("X-Config") == "two" }, "changed config")

	// A broken Casketfile is rejected and the previous configuration keeps serving.
	writeConf(t, dir, reloadConf(port, "three")+"nosuchdirective\n")
	p.signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "reload failed") }, "reload failure report")
	if !strings.Contains(p.stderr.String(), "Casketfile:") {
		t.Errorf("reload error lacks the file:line:\n%s", p.stderr)
	}
	if r := get(t, c, url); r.status != 200 || r.header.Get("X-Config") != "two" {
		t.Errorf("after broken reload: %d X-Config %q, want 200 two", r.status, r.header.Get("X-Config"))
	}

	// A configuration whose port is taken fails to start; the old one keeps serving.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	writeConf(t, dir, reloadConf(port, "four")+reloadConf(busyPort, "four"))
	before := strings.Count(p.stderr.String(), "reload failed")
	p.signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, func() bool { return strings.Count(p.stderr.String(), "reload failed") > before }, "bind failure report")
	if r := get(t, c, url); r.status != 200 || r.header.Get("X-Config") != "two" {
		t.Errorf("after failed bind: %d X-Config %q, want 200 two", r.status, r.header.Get("X-Config"))
	}

	// And a good configuration is accepted again afterwards, here with a second listener.
	port2 := freePort(t)
	writeConf(t, dir, reloadConf(port, "five")+reloadConf(port2, "new-port"))
	p.signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, func() bool { return get(t, c, url).header.Get("X-Config") == "five" }, "recovered config")
	if r := get(t, c, "http://127.0.0.1:"+port2+"/hello.txt"); r.header.Get("X-Config") != "new-port" {
		t.Errorf("new listener after reload: %d X-Config %q", r.status, r.header.Get("X-Config"))
	}

	// Dropping a site closes its listener.
	writeConf(t, dir, reloadConf(port, "six"))
	p.signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, func() bool { return get(t, c, url).header.Get("X-Config") == "six" }, "shrunk config")
	waitFor(t, 10*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port2, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "the dropped listener to close")

	p.signal(syscall.SIGHUP) // ignored
	time.Sleep(200 * time.Millisecond)
	if p.exited() {
		t.Fatal("SIGHUP ended the process")
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit after TERM = %d, want 0", code)
	}
}

// TestE2EReloadUnderLoad reloads 20 times while clients send requests without pause: none may fail.
func TestE2EReloadUnderLoad(t *testing.T) {
	needBinary(t)
	port, dir := freePort(t), t.TempDir()
	conf := writeConf(t, dir, reloadConf(port, "0"))
	p := startCasket(t, nil, "127.0.0.1:"+port, "-conf", conf, "-grace", "3s")
	url := "http://127.0.0.1:" + port + "/hello.txt"

	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client()
			if i%2 == 1 { // half the clients open a new connection per request, exercising accept
				c.Transport.(*http.Transport).DisableKeepAlives = true
			}
			for ctx.Err() == nil {
				resp, err := c.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		time.Sleep(100 * time.Millisecond)
		writeConf(t, dir, reloadConf(port, strconv.Itoa(i)))
		p.signal(syscall.SIGUSR1)
	}
	c := client()
	waitFor(t, 10*time.Second, func() bool { return get(t, c, url).header.Get("X-Config") == "20" }, "last reload")
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during 20 reloads; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Errorf("only %d requests succeeded; the load was too light to mean anything", ok.Load())
	}
	if strings.Contains(p.stderr.String(), "reload failed") {
		t.Errorf("a reload failed:\n%s", p.stderr)
	}
	t.Logf("%d requests, 20 reloads, 0 failures", ok.Load())
}

// bigSite prepares a root holding one 64 MiB file, large enough that a client reading slowly keeps its
// request in flight for as long as the test wants.
func bigSite(t *testing.T) (env, int) {
	t.Helper()
	tmp := t.TempDir()
	const size = 64 << 20
	if err := os.MkdirAll(filepath.Join(tmp, "big"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "big", "big.bin"), bytes.Repeat([]byte("0123456789abcdef"), size/16), 0o644); err != nil {
		t.Fatal(err)
	}
	return env{"CASKET_E2E_PORT": freePort(t), "CASKET_E2E_TMP": tmp}, size
}

// startDownload begins fetching the big file and reads its first MiB, leaving the rest in flight.
func startDownload(t *testing.T, port string) *http.Response {
	t.Helper()
	resp, err := client().Get("http://127.0.0.1:" + port + "/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestE2EGracefulStop(t *testing.T) {
	needBinary(t)
	e, size := bigSite(t)
	port := e["CASKET_E2E_PORT"]
	pid := filepath.Join(t.TempDir(), "run", "casket.pid")
	logFile := filepath.Join(t.TempDir(), "process.log")
	p := startCasket(t, e, "127.0.0.1:"+port, "-conf", "slow.Casketfile", "-grace", "20s", "-pidfile", pid,
		"-log", logFile, "--log-format", "json")

	// The pidfile is written right after the listeners are up, so give it a moment.
	var b []byte
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err = os.ReadFile(pid); err == nil && len(b) > 0 {
			break
		}
	}
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("pidfile = %q (%v), want %d", b, err, p.cmd.Process.Pid)
	}

	resp := startDownload(t, port)
	p.signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if p.exited() {
		t.Fatal("exited before the in-flight request finished")
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
		t.Error("still accepting new connections while draining")
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n+1<<20 != int64(size) {
		t.Errorf("in-flight download cut short: got %d more bytes, err %v", n, err)
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit = %d, want 0", code)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pidfile not removed: %v", err)
	}
	logged, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logged), `"msg":"serving"`) || !strings.Contains(string(logged), `"msg":"stopped"`) {
		t.Errorf("process log lacks lifecycle entries:\n%s", logged)
	}
}

func TestE2EGraceElapsed(t *testing.T) {
	needBinary(t)
	e, _ := bigSite(t)
	port := e["CASKET_E2E_PORT"]
	p := startCasket(t, e, "127.0.0.1:"+port, "-conf", "slow.Casketfile", "-grace", "500ms")
	startDownload(t, port) // and never read the rest
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit = %d, want 0", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v with -grace 500ms", d)
	}
}

func TestE2ESecondInterrupt(t *testing.T) {
	needBinary(t)
	e, _ := bigSite(t)
	port := e["CASKET_E2E_PORT"]
	pid := filepath.Join(t.TempDir(), "casket.pid")
	p := startCasket(t, e, "127.0.0.1:"+port, "-conf", "slow.Casketfile", "-grace", "60s", "-pidfile", pid)
	startDownload(t, port) // stalls the graceful stop
	p.signal(syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	if p.exited() {
		t.Fatal("first SIGINT did not wait for the in-flight request")
	}
	p.signal(syscall.SIGINT)
	if code := p.wait(10 * time.Second); code != 2 {
		t.Errorf("exit = %d, want 2", code)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pidfile not removed: %v", err)
	}
}

func TestE2EQuit(t *testing.T) {
	needBinary(t)
	e, _ := bigSite(t)
	port := e["CASKET_E2E_PORT"]
	p := startCasket(t, e, "127.0.0.1:"+port, "-conf", "slow.Casketfile", "-grace", "60s")
	startDownload(t, port)
	p.signal(syscall.SIGQUIT)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit = %d, want 0", code)
	}
}
