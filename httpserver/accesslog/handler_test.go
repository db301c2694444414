package accesslog

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// sink collects the writes a handler makes, one slice per Write call.
type sink struct {
	mu     sync.Mutex
	writes []string
	closed bool
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, string(p))
	return len(p), nil
}

func (s *sink) Close() error { s.closed = true; return nil }

func (s *sink) last(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.writes) == 0 {
		t.Fatal("nothing logged")
	}
	return s.writes[len(s.writes)-1]
}

// newHandler sets up src in front of next and logs into a sink.
func newHandler(t *testing.T, src string, next httpserver.HandlerFunc) (*Handler, *sink) {
	t.Helper()
	mw, err := Setup(testutil.Dispenser(t, src), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(next).(*Handler)
	out := &sink{}
	h.SetOutput(out)
	return h, out
}

func okBody(body string) httpserver.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Out", "yes")
		_, err := w.Write([]byte(body))
		return err
	}
}

func TestCommonAndCombined(t *testing.T) {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	tests := []struct {
		name, src, want string
	}{
		{name: "common", src: "log stdout",
			want: `192.0.2.9 - - [04/Mar/2026:05:06:07 +0100] "GET /a/b?x=1 HTTP/1.1" 200 5` + "\n"},
		{name: "combined", src: "log / stdout {combined}",
			want: `192.0.2.9 - - [04/Mar/2026:05:06:07 +0100] "GET /a/b?x=1 HTTP/1.1" 200 5 "http://ref.example/" "tester/1.0"` + "\n"},
		{name: "custom", src: `log / stdout "{method} {<X-Out} {>Missing} \{literal\} {host}"`,
			want: "GET yes - {literal} example.com\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, out := newHandler(t, tt.src, okBody("hello"))
			r := httptest.NewRequest("GET", "http://example.com/a/b?x=1", nil)
			r.RemoteAddr = "192.0.2.9:4321"
			r.Header.Set("Referer", "http://ref.example/")
			r.Header.Set("User-Agent", "tester/1.0")
			rec := httpserver.NewResponseRecorder(httptest.NewRecorder())
			r = httpserver.WithRequestInfo(r, &httpserver.RequestInfo{OriginalURL: r.URL, Start: start, Recorder: rec})
			if err := h.ServeHTTP(rec, r); err != nil {
				t.Fatal(err)
			}
			if got := out.last(t); got != tt.want {
				t.Errorf("line = %q\nwant   %q", got, tt.want)
			}
		})
	}
}

func TestUserAndLatencyWithoutServerRecorder(t *testing.T) {
	h, out := newHandler(t, `log / stdout "{user} {status} {size} {latency}"`,
		func(w http.ResponseWriter, r *http.Request) error {
			httpserver.InfoFrom(r).SetVar("user", "alice")
			w.WriteHeader(http.StatusTeapot)
			_, err := w.Write([]byte("abc"))
			return err
		})
	r := httptest.NewRequest("GET", "/", nil)
	if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out.last(t))
	if len(f) != 4 || f[0] != "alice" || f[1] != "418" || f[2] != "3" {
		t.Fatalf("line = %q", out.last(t))
	}
	if _, err := time.ParseDuration(f[3]); err != nil {
		t.Errorf("latency %q: %v", f[3], err)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	h, out := newHandler(t, `log / stdout "{>Authorization} {>cookie} {~session} {>Proxy-Authorization} {<Set-Cookie} {>X-Ok}"`,
		func(w http.ResponseWriter, r *http.Request) error {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "server-secret"})
			return nil
		})
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("bob", "hunter2")
	r.Header.Set("Cookie", "session=cookie-secret")
	r.Header.Set("Proxy-Authorization", "Bearer proxy-secret")
	r.Header.Set("X-Ok", "visible")
	if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	line := out.last(t)
	for _, secret := range []string{"Basic", "hunter2", "cookie-secret", "proxy-secret", "server-secret"} {
		if strings.Contains(line, secret) {
			t.Errorf("line %q contains %q", line, secret)
		}
	}
	if line != "REDACTED REDACTED REDACTED REDACTED REDACTED visible\n" {
		t.Errorf("line = %q", line)
	}
}

func TestIPMask(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"203.0.113.77:1", "203.0.113.0\n"},
		{"[2001:db8:1:2:3::9]:1", "2001:db8:1::\n"},
	} {
		h, out := newHandler(t, "log / stdout {remote} {\n ipmask 255.255.255.0 ffff:ffff:ffff::\n}", okBody(""))
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
			t.Fatal(err)
		}
		if got := out.last(t); got != tc.want {
			t.Errorf("%s: line = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

func TestPathAndExcept(t *testing.T) {
	h, out := newHandler(t, "log /api stdout {path} {\n except /api/health\n}", okBody("x"))
	for _, p := range []string{"/api/users", "/other", "/api/health", "/API/x", "/other/../api/y"} {
		called := false
		h.Next = httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil })
		if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil)); err != nil {
			t.Fatal(err)
		}
		if !called {
			t.Errorf("%s: next not called", p)
		}
	}
	want := []string{"/api/users\n", "/API/x\n", "/other/../api/y\n"}
	if strings.Join(out.writes, "") != strings.Join(want, "") {
		t.Errorf("logged %q, want %q", out.writes, want)
	}
}

func TestErrorStatusLogged(t *testing.T) {
	boom := httpserver.Error(http.StatusNotFound, nil)
	h, out := newHandler(t, `log / stdout "{status} {size}"`, func(http.ResponseWriter, *http.Request) error { return boom })
	err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the handler's error returned unchanged", err)
	}
	if got := out.last(t); got != "404 0\n" {
		t.Errorf("line = %q", got)
	}
}

func TestNewlinesEscaped(t *testing.T) {
	h, out := newHandler(t, `log / stdout "{?q}"`, okBody(""))
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/?q=a%0Ab", nil)); err != nil {
		t.Fatal(err)
	}
	if got := out.last(t); got != `a\nb`+"\n" {
		t.Errorf("line = %q", got)
	}
}

func TestFileDestinationSharedAndClosed(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "access.log")
	var handlers []*Handler
	for i := 0; i < 2; i++ {
		mw, err := Setup(testutil.Dispenser(t, "log / "+file+" {path}"), &httpserver.Site{})
		if err != nil {
			t.Fatal(err)
		}
		h := mw(okBody("ok")).(*Handler)
		if err := h.Provision(context.Background(), &httpserver.Site{}); err != nil {
			t.Fatal(err)
		}
		handlers = append(handlers, h)
	}
	if a, b := handlers[0].out.(*handle).s, handlers[1].out.(*handle).s; a != b || a.refs != 2 {
		t.Fatalf("the two handlers do not share one writer (refs %d)", a.refs)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := handlers[i%2]
			_ = h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/line", nil))
		}(i)
	}
	wg.Wait()
	if err := handlers[0].Close(); err != nil {
		t.Fatal(err)
	}
	// Still open for the second handler.
	_ = handlers[1].ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/last", nil))
	if err := handlers[1].Close(); err != nil {
		t.Fatal(err)
	}
	registry.Lock()
	_, stillOpen := registry.open[file]
	registry.Unlock()
	if stillOpen {
		t.Error("destination still registered after the last Close")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 51 || lines[50] != "/last" {
		t.Fatalf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	for _, l := range lines[:50] {
		if l != "/line" {
			t.Fatalf("interleaved line %q", l)
		}
	}
	// Closing twice is harmless, and logging after Close is a no-op.
	if err := handlers[1].Close(); err != nil {
		t.Fatal(err)
	}
	_ = handlers[1].ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/after", nil))
}

func TestRotationSettingsReplaced(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a.log")
	w1, err := OpenDestination(file, DefaultRotation())
	if err != nil {
		t.Fatal(err)
	}
	w2, err := OpenDestination(file, Rotation{Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s := w1.(*handle).s
	if s != w2.(*handle).s || !s.rot.Disabled {
		t.Fatal("the second opener's rotation settings were not applied to the shared writer")
	}
	if _, ok := s.w.(*os.File); !ok {
		t.Errorf("rotate_disable should write the plain file, got %T", s.w)
	}
	_, _ = w1.Write([]byte("one\n"))
	_ = w1.Close()
	_, _ = w2.Write([]byte("two\n"))
	_ = w2.Close()
	if data, _ := os.ReadFile(file); string(data) != "one\ntwo\n" {
		t.Errorf("file = %q", data)
	}
}

func TestProvisionError(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h := New(okBody(""), Config{Path: "/", Dest: filepath.Join(blocker, "x.log"), Format: "{path}", Rotation: DefaultRotation()})
	if err := h.Provision(context.Background(), &httpserver.Site{}); err == nil || !strings.HasPrefix(err.Error(), "log: ") {
		t.Fatalf("err = %v, want a log: error for an impossible path", err)
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	mw, _ := Setup(testutil.Dispenser(b, "log / stdout {combined}"), &httpserver.Site{})
	h := mw(okBody("hello")).(*Handler)
	h.SetOutput(nopCloser{&bytes.Buffer{}})
	r := httptest.NewRequest("GET", "/x?y=1", nil)
	r.Header.Set("User-Agent", "bench")
	b.ReportAllocs()
	for b.Loop() {
		rec := httpserver.NewResponseRecorder(httptest.NewRecorder())
		req := httpserver.WithRequestInfo(r, &httpserver.RequestInfo{OriginalURL: r.URL, Start: time.Now(), Recorder: rec})
		_ = h.ServeHTTP(rec, req)
	}
}

func TestProvisionTwiceKeepsOneReference(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a.log")
	h := New(okBody(""), Config{Path: "/", Dest: file, Format: "{path}", Rotation: DefaultRotation()})
	for i := 0; i < 2; i++ {
		if err := h.Provision(context.Background(), &httpserver.Site{}); err != nil {
			t.Fatal(err)
		}
	}
	if refs := h.out.(*handle).s.refs; refs != 1 {
		t.Errorf("refs = %d after provisioning twice, want 1", refs)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	registry.Lock()
	n := len(registry.open)
	registry.Unlock()
	if n != 0 {
		t.Errorf("%d destinations left open", n)
	}
}
