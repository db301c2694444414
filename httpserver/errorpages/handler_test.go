package errorpages

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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

type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, string(p))
	return len(p), nil
}

func (s *logSink) Close() error { return nil }

// setup builds the handler for src around next, provisions it with a site rooted at root and captures
// its log.
func setup(t *testing.T, src, root string, next httpserver.HandlerFunc) (*Handler, *logSink) {
	t.Helper()
	mw, err := Setup(testutil.Dispenser(t, src), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(next).(*Handler)
	if err := h.Provision(context.Background(), &httpserver.Site{Root: root}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	sink := &logSink{}
	if h.Config.Dest != Visible {
		_ = h.Close() // release stderr; write to the sink instead
		h.SetOutput(sink)
	}
	return h, sink
}

func fail(err error) httpserver.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Length", "999") // stale headers of the failed response
		w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		return err
	}
}

func writePages(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{"404.html": "<h1>not here</h1>", "err.txt": "generic"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestPages(t *testing.T) {
	root := writePages(t)
	tests := []struct {
		name       string
		src        string
		err        error
		wantStatus int
		wantBody   string
		wantType   string
		wantLog    string // substring of the single log line; "" means nothing logged
	}{
		{name: "custom 404", src: "errors {\n 404 404.html\n}", err: httpserver.Error(404, nil),
			wantStatus: 404, wantBody: "<h1>not here</h1>", wantType: "text/html; charset=utf-8"},
		{name: "generic", src: "errors {\n 404 404.html\n * err.txt\n}", err: httpserver.Error(401, nil),
			wantStatus: 401, wantBody: "generic", wantType: "text/plain; charset=utf-8"},
		{name: "default body", src: "errors", err: httpserver.Error(403, nil),
			wantStatus: 403, wantBody: "403 Forbidden\n", wantType: "text/plain; charset=utf-8"},
		{name: "plain error is 500 and logged", src: "errors {\n 404 404.html\n}", err: errors.New("disk on fire"),
			wantStatus: 500, wantBody: "500 Internal Server Error\n", wantType: "text/plain; charset=utf-8",
			wantLog: "[ERROR 500 /some/path] disk on fire"},
		{name: "missing file not logged", src: "errors", err: httpserver.Error(404, fmt.Errorf("opening: %w", fs.ErrNotExist)),
			wantStatus: 404, wantBody: "404 Not Found\n", wantType: "text/plain; charset=utf-8"},
		{name: "status with cause is logged", src: "errors", err: httpserver.Error(502, errors.New("backend down")),
			wantStatus: 502, wantBody: "502 Bad Gateway\n", wantType: "text/plain; charset=utf-8",
			wantLog: "[ERROR 502 /some/path] http 502: backend down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, sink := setup(t, tt.src, root, fail(tt.err))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/some/path", nil)); err != nil {
				t.Fatalf("handled errors must not be returned, got %v", err)
			}
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if ct := w.Header().Get("Content-Type"); ct != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.wantType)
			}
			if cl := w.Header().Get("Content-Length"); cl == "999" {
				t.Error("stale Content-Length kept")
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Error("headers set by the failing handler were dropped")
			}
			switch {
			case tt.wantLog == "" && len(sink.lines) != 0:
				t.Errorf("unexpected log %q", sink.lines)
			case tt.wantLog != "" && (len(sink.lines) != 1 || !strings.Contains(sink.lines[0], tt.wantLog)):
				t.Errorf("log = %q, want one line containing %q", sink.lines, tt.wantLog)
			}
		})
	}
}

func TestAlreadyWritten(t *testing.T) {
	h, sink := setup(t, "errors", "", func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		return errors.New("copy interrupted")
	})
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || w.Body.String() != "partial" {
		t.Errorf("response changed after it was written: %d %q", w.Code, w.Body.String())
	}
	if len(sink.lines) != 1 || !strings.Contains(sink.lines[0], "copy interrupted") {
		t.Errorf("log = %q", sink.lines)
	}
}

func TestSuccessUntouched(t *testing.T) {
	h, sink := setup(t, "errors", "", func(w http.ResponseWriter, r *http.Request) error {
		_, _ = w.Write([]byte("fine"))
		return nil
	})
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil || w.Body.String() != "fine" {
		t.Fatalf("err %v body %q", err, w.Body.String())
	}
	if len(sink.lines) != 0 {
		t.Errorf("log = %q", sink.lines)
	}
}

func TestVisible(t *testing.T) {
	h, _ := setup(t, "errors visible", "", fail(httpserver.Error(503, errors.New("db unreachable"))))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if w.Code != 503 || !strings.Contains(w.Body.String(), "db unreachable") {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
}

func TestPanicRecovered(t *testing.T) {
	h, sink := setup(t, "errors", "", func(http.ResponseWriter, *http.Request) error { panic("kaboom") })
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/p", nil)); err != nil {
		t.Fatal(err)
	}
	if w.Code != 500 {
		t.Errorf("status = %d", w.Code)
	}
	if len(sink.lines) != 1 || !strings.Contains(sink.lines[0], "panic: kaboom") {
		t.Errorf("log = %q", sink.lines)
	}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler re-raised", v)
		}
	}()
	h.Next = httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { panic(http.ErrAbortHandler) })
	_ = h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestPageReloadedWhenChanged(t *testing.T) {
	root := writePages(t)
	h, _ := setup(t, "errors {\n 404 404.html\n}", root, fail(httpserver.Error(404, nil)))
	get := func() string {
		w := httptest.NewRecorder()
		_ = h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		return w.Body.String()
	}
	if got := get(); got != "<h1>not here</h1>" {
		t.Fatalf("body = %q", got)
	}
	file := filepath.Join(root, "404.html")
	if err := os.WriteFile(file, []byte("updated page"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, future, future); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "updated page" {
		t.Errorf("body after change = %q", got)
	}
	// A page that disappears falls back to the plain body and is logged.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "404 Not Found\n" {
		t.Errorf("body after removal = %q", got)
	}
}

func TestProvisionMissingPage(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, "errors {\n 404 missing.html\n}"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	err = mw(nil).(*Handler).Provision(context.Background(), &httpserver.Site{Root: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "errors: page for status 404") {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorLogFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "error.log")
	mw, err := Setup(testutil.Dispenser(t, "errors "+file), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(fail(errors.New("first\nsecond"))).(*Handler)
	if err := h.Provision(context.Background(), &httpserver.Site{}); err != nil {
		t.Fatal(err)
	}
	_ = h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x%0Ay", nil))
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `[ERROR 500 /x\ny] first`) {
		t.Errorf("log file = %q", data)
	}
}
