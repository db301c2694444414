package fastcgi

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// goResponder runs Go's own FastCGI responder (net/http/fcgi) on a loopback port; h sees the request
// Casket's client built.
func goResponder(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = fcgi.Serve(ln, h) }()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func parseDump(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func newHandler(t *testing.T, src, root string) *Handler {
	t.Helper()
	cfg, err := Parse(testutil.Dispenser(t, src))
	if err != nil {
		t.Fatal(err)
	}
	next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Next", "1")
		io.WriteString(w, "static")
		return nil
	})
	h := New(next, cfg)
	if err := h.Provision(context.Background(), &httpserver.Site{Root: root}); err != nil {
		t.Fatal(err)
	}
	return h
}

func do(t *testing.T, h *Handler, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r); err != nil {
		if w.Code == 200 && !w.Flushed && w.Body.Len() == 0 {
			w.Code = httpserver.StatusOf(err)
		}
		t.Logf("handler error: %v", err)
	}
	return w
}

func writeFiles(t *testing.T, files map[string]string) string {
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCGIVariables(t *testing.T) {
	addr := rawResponder(t, "")
	root := writeFiles(t, map[string]string{"index.php": "", "blog/post.php": "", "style.css": "css", "dir/index.php": ""})
	h := newHandler(t, "fastcgi / "+addr+" php {\n env APP_HOST {host}\n env STATIC yes\n}", root)

	tests := []struct {
		name   string
		req    func() *http.Request
		want   map[string]string
		absent []string
	}{
		{
			name: "script with PATH_INFO and query",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "http://example.com:8080/blog/post.php/2024/hello?x=1&y=2", nil)
				r.Header.Set("X-Custom", "v")
				r.Header.Set("Proxy", "http://evil:3128")
				r.Header.Set("X_Custom", "spoof")
				r.RemoteAddr = "192.0.2.9:5555"
				return r
			},
			want: map[string]string{
				"SCRIPT_NAME": "/blog/post.php", "SCRIPT_FILENAME": filepath.Join(root, "blog/post.php"),
				"PATH_INFO": "/2024/hello", "PATH_TRANSLATED": filepath.Join(root, "2024/hello"),
				"DOCUMENT_ROOT": root, "DOCUMENT_URI": "/blog/post.php",
				"REQUEST_URI": "/blog/post.php/2024/hello?x=1&y=2", "QUERY_STRING": "x=1&y=2",
				"REQUEST_METHOD": "GET", "REMOTE_ADDR": "192.0.2.9", "REMOTE_PORT": "5555",
				"SERVER_NAME": "example.com", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
				"GATEWAY_INTERFACE": "CGI/1.1", "HTTP_X_CUSTOM": "v", "APP_HOST": "example.com:8080", "STATIC": "yes",
			},
			absent: []string{"HTTPS", "HTTP_PROXY"},
		},
		{
			name: "index file for a directory",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/", nil) },
			want: map[string]string{"SCRIPT_NAME": "/index.php", "SCRIPT_FILENAME": filepath.Join(root, "index.php"), "PATH_INFO": ""},
		},
		{
			name: "front controller for a missing file",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/no/such/page", nil) },
			want: map[string]string{"SCRIPT_NAME": "/no/such/page", "REQUEST_URI": "/no/such/page"},
		},
		{
			name: "POST body and content type",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/index.php", strings.NewReader("a=1&b=2"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			want: map[string]string{"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
				"CONTENT_LENGTH": "7", "BODY": "a=1&b=2"},
		},
		{
			name: "chunked body gets a CONTENT_LENGTH",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/index.php", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")))
				r.ContentLength = -1
				return r
			},
			want: map[string]string{"CONTENT_LENGTH": "6", "BODY": "abcdef"},
		},
		{
			name: "TLS",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "https://secure.example/index.php", nil)
				r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
				return r
			},
			want: map[string]string{"HTTPS": "on", "SSL_PROTOCOL": "TLSv1.3", "SSL_CIPHER": "TLS_AES_128_GCM_SHA256", "SERVER_PORT": "443"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(t, h, tt.req())
			if w.Code != 200 || w.Header().Get("X-Next") != "" {
				t.Fatalf("status %d, next %q: %s", w.Code, w.Header().Get("X-Next"), w.Body)
			}
			env := parseDump(w.Body.String())
			for k, v := range tt.want {
				if got, ok := env[k]; !ok || got != v {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := env[k]; ok {
					t.Errorf("%s = %q, want absent", k, v)
				}
			}
			if strings.Count(w.Body.String(), "HTTP_X_CUSTOM=") > 1 {
				t.Error("X_Custom was passed as HTTP_X_CUSTOM too")
			}
		})
	}
}

func TestRouting(t *testing.T) {
	addr := goResponder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fcgi") })
	root := writeFiles(t, map[string]string{"index.php": "", "style.css": "css", "dir/index.php": "", "static/a.php": ""})
	h := newHandler(t, "fastcgi / "+addr+" php {\n except /static\n}", root)
	tests := []struct {
		path, want string
		status     int
	}{
		{path: "/style.css", want: "static", status: 200},
		{path: "/index.php", want: "fcgi", status: 200},
		{path: "/INDEX.PHP", want: "fcgi", status: 200},
		{path: "/", want: "fcgi", status: 200},
		{path: "/missing", want: "fcgi", status: 200},
		{path: "/static/a.php", want: "static", status: 200},
		{path: "/dir", status: http.StatusMovedPermanently},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := do(t, h, httptest.NewRequest("GET", tt.path, nil))
			if w.Code != tt.status || (tt.want != "" && w.Body.String() != tt.want) {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tt.status, tt.want)
			}
			if tt.status == http.StatusMovedPermanently && w.Header().Get("Location") != "/dir/" {
				t.Errorf("Location = %q", w.Header().Get("Location"))
			}
		})
	}
	other := newHandler(t, "fastcgi /app "+addr, root)
	if w := do(t, other, httptest.NewRequest("GET", "/index.php", nil)); w.Body.String() != "static" {
		t.Errorf("outside the base path: %q", w.Body)
	}
}

func TestResponseHeaders(t *testing.T) {
	addr := goResponder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/created.php":
			w.Header().Set("X-App", "1")
			w.Header().Add("Set-Cookie", "a=1")
			w.Header().Add("Set-Cookie", "b=2")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "made")
		case "/redirect.php":
			http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
		}
	})
	h := newHandler(t, "fastcgi / "+addr+" php", t.TempDir())
	w := do(t, h, httptest.NewRequest("GET", "/created.php", nil))
	if w.Code != 201 || w.Body.String() != "made" || w.Header().Get("X-App") != "1" || len(w.Header().Values("Set-Cookie")) != 2 {
		t.Errorf("got %d %q %v", w.Code, w.Body, w.Header())
	}
	if w.Header().Get("Status") != "" {
		t.Error("the CGI Status field leaked into the response")
	}
	w = do(t, h, httptest.NewRequest("GET", "/redirect.php", nil))
	if w.Code != 303 || w.Header().Get("Location") != "/elsewhere" {
		t.Errorf("redirect: %d %v", w.Code, w.Header())
	}
}

func TestEndpoints(t *testing.T) {
	addr := goResponder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up") })
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	h := newHandler(t, "fastcgi / "+deadAddr+" {\n upstream "+addr+"\n}", t.TempDir())
	for i := 0; i < 4; i++ {
		if w := do(t, h, httptest.NewRequest("GET", "/x", nil)); w.Body.String() != "up" {
			t.Fatalf("request %d: %d %q", i, w.Code, w.Body)
		}
	}
	only := newHandler(t, "fastcgi / "+deadAddr, t.TempDir())
	if w := do(t, only, httptest.NewRequest("GET", "/x", nil)); w.Code != http.StatusBadGateway {
		t.Errorf("dead endpoint: %d, want 502", w.Code)
	}
}

func TestUnixEndpoint(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "fcgi.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go fcgi.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "unix") }))
	t.Cleanup(func() { ln.Close() })
	h := newHandler(t, "fastcgi / unix:"+sock, t.TempDir())
	if w := do(t, h, httptest.NewRequest("GET", "/x", nil)); w.Body.String() != "unix" {
		t.Errorf("got %d %q", w.Code, w.Body)
	}
}

func TestLargeResponseAndBody(t *testing.T) {
	addr := goResponder(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d\n", n)
		w.Write([]byte(strings.Repeat("y", 300<<10)))
	})
	h := newHandler(t, "fastcgi / "+addr, t.TempDir())
	body := strings.Repeat("x", 200<<10) // several STDIN records
	w := do(t, h, httptest.NewRequest("POST", "/x", strings.NewReader(body)))
	want := fmt.Sprintf("%d\n%s", len(body), strings.Repeat("y", 300<<10))
	if w.Body.String() != want {
		t.Errorf("got %d bytes, want %d", w.Body.Len(), len(want))
	}
}

func TestNotProvisioned(t *testing.T) {
	cfg, _ := Parse(testutil.Dispenser(t, "fastcgi / 127.0.0.1:1"))
	err := New(nil, cfg).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err == nil || !strings.Contains(err.Error(), "before Provision") {
		t.Errorf("err = %v", err)
	}
}

func TestStderr(t *testing.T) {
	addr := rawResponder(t, "PHP Warning: something odd")
	h := newHandler(t, "fastcgi / "+addr, t.TempDir())
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "SCRIPT_NAME=/x") {
		t.Errorf("response %d %q", w.Code, w.Body)
	}
	if err == nil || !strings.Contains(err.Error(), "PHP Warning: something odd") || httpserver.StatusOf(err) != 200 {
		t.Errorf("err = %v (status %d), want the stderr text with the status sent", err, httpserver.StatusOf(err))
	}
}

func TestTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c) }() // reads the request, never answers
		}
	}()
	h := newHandler(t, "fastcgi / "+ln.Addr().String()+" {\n read_timeout 100ms\n}", t.TempDir())
	start := time.Now()
	w := do(t, h, httptest.NewRequest("GET", "/x", nil))
	if w.Code != http.StatusBadGateway {
		t.Errorf("status %d, want 502", w.Code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("read_timeout 100ms took %v", d)
	}
}
