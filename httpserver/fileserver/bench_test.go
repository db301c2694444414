package fileserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
)

// benchWriter is a reusable ResponseWriter that discards the body, so a benchmark measures the
// handler alone.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }
func (w *benchWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

func benchServe(b *testing.B, size int, hdr map[string]string) {
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{"file.txt": strings.Repeat("x", size), "style.css": "a", "style.css.br": "b"})
	fsrv := New(&httpserver.Site{Root: dir})
	target := "/file.txt"
	if hdr["Accept-Encoding"] != "" {
		target = "/style.css"
	}
	req := httptest.NewRequest("GET", target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.reset()
		if err := fsrv.ServeHTTP(w, req); err != nil {
			b.Fatal(err)
		}
	}
	if w.status != http.StatusOK && w.status != http.StatusNotModified {
		b.Fatalf("status %d", w.status)
	}
}

// BenchmarkServe1KiB measures the cached hot path: a 1 KiB file served from memory.
func BenchmarkServe1KiB(b *testing.B) { benchServe(b, 1<<10, nil) }

// BenchmarkServe1KiBNotModified measures a conditional hit answered with 304.
func BenchmarkServe1KiBNotModified(b *testing.B) {
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{"file.txt": strings.Repeat("x", 1024)})
	fsrv := New(&httpserver.Site{Root: dir})
	rec := httptest.NewRecorder()
	fsrv.ServeHTTP(rec, httptest.NewRequest("GET", "/file.txt", nil))
	benchServe(b, 1<<10, map[string]string{"If-None-Match": rec.Header().Get("Etag")})
}

// BenchmarkServePrecompressed measures choosing a precompressed sibling.
func BenchmarkServePrecompressed(b *testing.B) {
	benchServe(b, 1, map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"})
}

// BenchmarkServe1MiB measures a file streamed from disk.
func BenchmarkServe1MiB(b *testing.B) { benchServe(b, 1<<20, nil) }

// BenchmarkServe1KiBHTTP measures a 1 KiB file over a real keep-alive HTTP/1.1 connection.
func BenchmarkServe1KiBHTTP(b *testing.B) {
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{"file.txt": strings.Repeat("x", 1024)})
	srv := httptest.NewServer(adapt(New(&httpserver.Site{Root: dir})))
	defer srv.Close()
	client := srv.Client()
	url := srv.URL + "/file.txt"
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
