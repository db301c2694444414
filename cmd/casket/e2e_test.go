package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// response is what the tests look at in an HTTP answer.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request and reads the whole answer.
func do(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) response {
	t.Helper()
	return do(t, c, http.MethodGet, url, nil, hdr...)
}

func TestE2EStaticVhostsAndPaths(t *testing.T) {
	needBinary(t)
	port := freePort(t)
	p := startCasket(t, env{"CASKET_E2E_PORT": port}, "127.0.0.1:"+port, "-conf", "sites.Casketfile")
	c := client()
	base := "http://127.0.0.1:" + port
	tests := []struct {
		name, host, path string
		wantStatus       int
		wantBody         string
		wantHeader       [2]string
	}{
		{name: "index of a", host: "a.test", path: "/", wantStatus: 200, wantBody: "e2e index"},
		{name: "file of a", host: "a.test", path: "/hello.txt", wantStatus: 200, wantBody: "hello e2e"},
		{name: "nested file", host: "a.test", path: "/sub/page.html", wantStatus: 200, wantBody: "sub page"},
		{name: "host is case-insensitive", host: "A.TEST", path: "/hello.txt", wantStatus: 200, wantBody: "hello e2e"},
		{name: "missing file", host: "a.test", path: "/nope.txt", wantStatus: 404},
		{name: "directory without slash redirects", host: "a.test", path: "/sub", wantStatus: 3, wantHeader: [2]string{"Location", "/sub/"}},
		{name: "vhost b", host: "b.test", path: "/", wantStatus: 200, wantBody: "site b"},
		{name: "path-scoped site", host: "a.test", path: "/api/", wantStatus: 200, wantBody: `{"api":true}`},
		{name: "catch-all", host: "other.test", path: "/", wantStatus: 200, wantBody: "site b", wantHeader: [2]string{"X-Catch-All", "yes"}},
		{name: "Server header", host: "a.test", path: "/", wantStatus: 200, wantHeader: [2]string{"Server", "Casket"}},
		{name: "no escape from root", host: "a.test", path: "/../sites.Casketfile", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, c, base+tt.path, "Host", tt.host)
			if tt.wantStatus == 3 && r.status/100 == 3 { // any redirect (Casket used 301; 307/308 are fine)
				r.status = 3
			}
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", r.status, tt.wantStatus, r.body)
			}
			if !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body = %q, want it to contain %q", r.body, tt.wantBody)
			}
			if tt.wantHeader[0] != "" && r.header.Get(tt.wantHeader[0]) != tt.wantHeader[1] {
				t.Errorf("%s = %q, want %q", tt.wantHeader[0], r.header.Get(tt.wantHeader[0]), tt.wantHeader[1])
			}
		})
	}
	if !strings.Contains(p.stdout.String(), "a.test:"+port) {
		t.Errorf("site list lacks a.test:%s:\n%s", port, p.stdout)
	}
}

func TestE2EDirectives(t *testing.T) {
	needBinary(t)
	port, port2, tmp := freePort(t), freePort(t), t.TempDir()
	startCasket(t, env{"CASKET_E2E_PORT": port, "CASKET_E2E_PORT2": port2, "CASKET_E2E_TMP": tmp},
		"127.0.0.1:"+port, "-conf", "directives.Casketfile")
	c := client()
	base := "http://127.0.0.1:" + port

	t.Run("root and index", func(t *testing.T) {
		if r := get(t, c, base+"/"); r.status != 200 || !strings.Contains(r.body, "e2e index") {
			t.Errorf("got %d %q", r.status, r.body)
		}
	})
	t.Run("header", func(t *testing.T) {
		if r := get(t, c, base+"/hello.txt"); r.header.Get("X-E2E") != "yes" {
			t.Errorf("X-E2E = %q", r.header.Get("X-E2E"))
		}
	})
	t.Run("request_id", func(t *testing.T) {
		r := get(t, c, base+"/hello.txt")
		if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(r.header.Get("X-Request-ID")) {
			t.Errorf("X-Request-ID = %q, want a UUID", r.header.Get("X-Request-ID"))
		}
		if r2 := get(t, c, base+"/hello.txt"); r2.header.Get("X-Request-ID") == r.header.Get("X-Request-ID") {
			t.Errorf("two requests share the id %q", r.header.Get("X-Request-ID"))
		}
	})
	t.Run("rewrite", func(t *testing.T) {
		if r := get(t, c, base+"/old-hello"); r.status != 200 || !strings.Contains(r.body, "hello e2e") {
			t.Errorf("got %d %q", r.status, r.body)
		}
	})
	t.Run("ext", func(t *testing.T) {
		if r := get(t, c, base+"/clean"); r.status != 200 || !strings.Contains(r.body, "clean url") {
			t.Errorf("got %d %q", r.status, r.body)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		r := get(t, c, base+"/lorem.txt", "Accept-Encoding", "gzip")
		if r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding = %q", r.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !strings.Contains(string(plain), "line 199 of") {
			t.Errorf("decompressed body wrong: %v", err)
		}
		if r := get(t, c, base+"/lorem.txt"); r.header.Get("Content-Encoding") != "" {
			t.Errorf("compressed without Accept-Encoding")
		}
	})
	t.Run("errors page", func(t *testing.T) {
		if r := get(t, c, base+"/missing"); r.status != 404 || !strings.Contains(r.body, "custom not found") {
			t.Errorf("got %d %q", r.status, r.body)
		}
	})
	t.Run("basicauth", func(t *testing.T) {
		if r := get(t, c, base+"/secret/inside.txt"); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("unauthenticated: %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		req, _ := http.NewRequest("GET", base+"/secret/inside.txt", nil)
		req.SetBasicAuth("bob", "wrong")
		if resp, err := c.Do(req); err != nil || resp.StatusCode != 401 {
			t.Errorf("wrong password: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		req.SetBasicAuth("bob", "hunter2")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "top secret") {
			t.Errorf("authenticated: %d %q", resp.StatusCode, b)
		}
	})
	t.Run("redir", func(t *testing.T) {
		r := get(t, c, base+"/go-away")
		if r.status != 302 || !strings.HasSuffix(r.header.Get("Location"), "/hello.txt") {
			t.Errorf("got %d Location %q", r.status, r.header.Get("Location"))
		}
	})
	t.Run("status", func(t *testing.T) {
		if r := get(t, c, base+"/teapot"); r.status != 418 {
			t.Errorf("status = %d", r.status)
		}
	})
	t.Run("mime", func(t *testing.T) {
		if r := get(t, c, base+"/data.e2e"); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/x-e2e") {
			t.Errorf("got %d Content-Type %q", r.status, r.header.Get("Content-Type"))
		}
	})
	t.Run("internal", func(t *testing.T) {
		if r := get(t, c, base+"/internal/hidden.txt"); r.status != 404 {
			t.Errorf("status = %d, want 404", r.status)
		}
	})
	t.Run("browse", func(t *testing.T) {
		r := get(t, c, base+"/listing/")
		if r.status != 200 || !strings.Contains(r.body, "one.txt") || !strings.Contains(r.body, "two.txt") {
			t.Errorf("html listing: %d %q", r.status, r.body)
		}
		r = get(t, c, base+"/listing/", "Accept", "application/json")
		if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "json") || !strings.Contains(r.body, `"one.txt"`) {
			t.Errorf("json listing: %d %s %q", r.status, r.header.Get("Content-Type"), r.body)
		}
	})
	t.Run("limits", func(t *testing.T) {
		if r := do(t, c, http.MethodPost, base+"/upload", strings.NewReader(strings.Repeat("x", 100))); r.status != 413 {
			t.Errorf("status = %d, want 413", r.status)
		}
	})
	t.Run("tryfiles", func(t *testing.T) {
		b2 := "http://127.0.0.1:" + port2
		if r := get(t, c, b2+"/app.js"); r.status != 200 || !strings.Contains(r.body, "spa asset") {
			t.Errorf("existing file: %d %q", r.status, r.body)
		}
		if r := get(t, c, b2+"/some/client/route"); r.status != 200 || !strings.Contains(r.body, "spa shell") {
			t.Errorf("fallback: %d %q", r.status, r.body)
		}
	})
	t.Run("log", func(t *testing.T) {
		get(t, c, base+"/hello.txt?logged=1")
		waitFor(t, 5*time.Second, func() bool {
			b, _ := os.ReadFile(filepath.Join(tmp, "access.log"))
			return strings.Contains(string(b), "GET /hello.txt?logged=1")
		}, "access log line for /hello.txt?logged=1")
	})
	t.Run("curl", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
				t.Fatal("curl not found and CASKET_REQUIRE_EXTERNAL=1")
			}
			t.Skip("curl not installed")
		}
		out, err := exec.Command(curl, "-sS", "-i", "--compressed", base+"/lorem.txt").CombinedOutput()
		// curl picks the best coding it supports (zstd, br or gzip) and decodes it.
		if err != nil || !strings.Contains(string(out), "line 199 of") || !regexp.MustCompile(`(?i)content-encoding: (gzip|zstd|br)`).Match(out) {
			t.Errorf("curl: %v\n%s", err, out)
		}
	})
}

// waitFor polls cond until it holds or the timeout elapses.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestE2EValidate(t *testing.T) {
	needBinary(t)
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{name: "valid", args: []string{"-validate", "-conf", "directives.Casketfile"}, want: 0, wantStdout: "Casketfile is valid"},
		{name: "valid vhosts", args: []string{"-validate", "-conf", "sites.Casketfile"}, want: 0, wantStdout: "Casketfile is valid"},
		{name: "unknown directive", args: []string{"-validate", "-conf", "broken.Casketfile"}, want: 1, wantStderr: "broken.Casketfile:4"},
		{name: "glob", args: []string{"-validate", "-conf", "conf.d/*.conf"}, want: 0, wantStdout: "Casketfile is valid"},
		{name: "shorthand", args: []string{"-validate", "browse", "gzip"}, want: 0, wantStdout: "Casketfile is valid"},
		{name: "shorthand error", args: []string{"-validate", "nosuchdirective"}, want: 1, wantStderr: "args:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCasket(t, env{"CASKET_E2E_PORT": "1", "CASKET_E2E_PORT2": "2", "CASKET_E2E_TMP": t.TempDir()}, "", tt.args...)
			if code != tt.want {
				t.Errorf("exit = %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stdout %q / stderr %q, want %q / %q", stdout, stderr, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestE2ELoaders(t *testing.T) {
	needBinary(t)
	c := client()
	t.Run("stdin", func(t *testing.T) {
		port := freePort(t)
		src, err := os.ReadFile(filepath.Join(e2eDir, "stdin.Casketfile"))
		if err != nil {
			t.Fatal(err)
		}
		p := newProc(t, env{"CASKET_E2E_PORT": port}, "-conf", "stdin")
		p.cmd.Stdin = strings.NewReader(string(src))
		p.start().waitListening("127.0.0.1:" + port)
		if r := get(t, c, "http://127.0.0.1:"+port+"/hello.txt"); r.header.Get("X-From") != "stdin" {
			t.Errorf("X-From = %q", r.header.Get("X-From"))
		}
	})
	t.Run("glob", func(t *testing.T) {
		port := freePort(t)
		startCasket(t, env{"CASKET_E2E_PORT": port}, "127.0.0.1:"+port, "-conf", "conf.d/*.conf")
		if r := get(t, c, "http://one.test:"+port+"/hello.txt"); r.status != 200 {
			t.Errorf("one.test: %d", r.status)
		}
		if r := get(t, c, "http://two.test:"+port+"/"); !strings.Contains(r.body, "site b") {
			t.Errorf("two.test: %d %q", r.status, r.body)
		}
	})
	t.Run("shorthand", func(t *testing.T) {
		port := freePort(t)
		startCasket(t, nil, "127.0.0.1:"+port, "-port", port, "-root", "www", "browse", "header / X-Short yes")
		r := get(t, c, "http://127.0.0.1:"+port+"/listing/")
		if r.status != 200 || !strings.Contains(r.body, "one.txt") || r.header.Get("X-Short") != "yes" {
			t.Errorf("got %d %q %v", r.status, r.body, r.header)
		}
	})
	t.Run("default site", func(t *testing.T) {
		port := freePort(t)
		p := newProc(t, nil, "-port", port, "-root", filepath.Join(e2eDir, "www"), "-quiet")
		p.cmd.Dir = t.TempDir() // no ./Casketfile here
		p.start().waitListening("127.0.0.1:" + port)
		if r := get(t, c, "http://127.0.0.1:"+port+"/hello.txt"); r.status != 200 || !strings.Contains(r.body, "hello e2e") {
			t.Errorf("got %d %q", r.status, r.body)
		}
		if out := p.stdout.String(); strings.Contains(out, "Casket") || !strings.Contains(out, ":"+port) {
			t.Errorf("-quiet output should be the site list only: %q", out)
		}
	})
	t.Run("cwd Casketfile is found and never served", func(t *testing.T) {
		port, dir := freePort(t), t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "page.txt"), []byte("from cwd"), 0o644); err != nil {
			t.Fatal(err)
		}
		writeConf(t, dir, "127.0.0.1:"+port+"\nroot .\n")
		p := newProc(t, nil)
		p.cmd.Dir = dir
		p.start().waitListening("127.0.0.1:" + port)
		if r := get(t, c, "http://127.0.0.1:"+port+"/page.txt"); r.status != 200 || r.body != "from cwd" {
			t.Errorf("page: %d %q", r.status, r.body)
		}
		if r := get(t, c, "http://127.0.0.1:"+port+"/Casketfile"); r.status != 404 {
			t.Errorf("the Casketfile itself: %d %q, want 404", r.status, r.body)
		}
	})
	t.Run("stdin is reused on reload", func(t *testing.T) {
		port := freePort(t)
		src, err := os.ReadFile(filepath.Join(e2eDir, "stdin.Casketfile"))
		if err != nil {
			t.Fatal(err)
		}
		p := newProc(t, env{"CASKET_E2E_PORT": port}, "-conf", "stdin", "-log", "stderr")
		p.cmd.Stdin = strings.NewReader(string(src))
		p.start().waitListening("127.0.0.1:" + port)
		p.signal(syscall.SIGUSR1)
		waitFor(t, 10*time.Second, func() bool {
			return strings.Contains(p.stderr.String(), "reloaded") || strings.Contains(p.stderr.String(), "reload failed")
		}, "the reload to finish")
		if r := get(t, c, "http://127.0.0.1:"+port+"/hello.txt"); r.status != 200 || r.header.Get("X-From") != "stdin" {
			t.Errorf("after reload: %d X-From %q; stderr %s", r.status, r.header.Get("X-From"), p.stderr)
		}
		if strings.Contains(p.stderr.String(), "reload failed") {
			t.Errorf("reload of a piped Casketfile failed:\n%s", p.stderr)
		}
	})
	t.Run("conf and args", func(t *testing.T) {
		code, _, stderr := runCasket(t, nil, "", "-conf", "sites.Casketfile", "browse")
		if code != 1 || !strings.Contains(stderr, "Casketfile loaded multiple times") {
			t.Errorf("exit %d stderr %q", code, stderr)
		}
	})
	t.Run("bind conflict", func(t *testing.T) {
		port := freePort(t)
		startCasket(t, env{"CASKET_E2E_PORT": port}, "127.0.0.1:"+port, "-conf", "reload-a.Casketfile")
		code, _, stderr := runCasket(t, env{"CASKET_E2E_PORT": port}, "", "-conf", "reload-a.Casketfile")
		if code != 1 || stderr == "" {
			t.Errorf("second process on a busy port: exit %d stderr %q", code, stderr)
		}
	})
	t.Run("version and plugins", func(t *testing.T) {
		if code, out, _ := runCasket(t, nil, "", "-version"); code != 0 || !strings.HasPrefix(out, "Casket ") {
			t.Errorf("-version: %d %q", code, out)
		}
		code, out, _ := runCasket(t, nil, "", "-plugins")
		if code != 0 || !strings.Contains(out, "Directives") || !strings.Contains(out, "  root") || !strings.Contains(out, "  file") {
			t.Errorf("-plugins: %d %q", code, out)
		}
	})
	t.Run("envfile and env", func(t *testing.T) {
		dir := t.TempDir()
		ef := filepath.Join(dir, "e.env")
		if err := os.WriteFile(ef, []byte("# test\nCASKET_E2E_FROM_FILE=yes-it-is\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runCasket(t, nil, "", "-envfile", ef, "-env", "-validate", "browse")
		if code != 0 || !strings.Contains(out, "CASKET_E2E_FROM_FILE=yes-it-is") || !strings.Contains(out, "Casketfile is valid") {
			t.Errorf("exit %d stdout %q stderr %q", code, out, stderr)
		}
		// Variables from -envfile are substituted into the Casketfile.
		port := freePort(t)
		if err := os.WriteFile(ef, []byte("CASKET_E2E_PORT="+port+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		startCasket(t, nil, "127.0.0.1:"+port, "-envfile", ef, "-conf", "reload-a.Casketfile")
		if r := get(t, c, "http://127.0.0.1:"+port+"/hello.txt"); r.header.Get("X-Config") != "a" {
			t.Errorf("site from envfile port: %d %v", r.status, r.header)
		}
	})
}
