package fileserver

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
)

// adapt turns a Handler into an http.Handler the way the server's error boundary does: a returned
// error with a status is written as that status when nothing was written yet.
func adapt(h httpserver.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httpserver.NewResponseRecorder(w)
		if err := h.ServeHTTP(rec, r); err != nil && !rec.Written() {
			status := httpserver.StatusOf(err)
			rec.WriteHeader(status)
			_, _ = rec.Write([]byte(http.StatusText(status)))
		}
	})
}

// writeFiles creates files (name → content; a trailing "/" makes a directory) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if name[len(name)-1] == '/' {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// do runs one request against h and returns the recorded response.
func do(t testing.TB, h httpserver.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	adapt(h).ServeHTTP(rec, req)
	return rec
}

// fixedClock is a settable clock for cache tests.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }
