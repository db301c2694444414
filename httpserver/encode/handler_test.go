package encode

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/casketserver/casket/httpserver"
)

var page = strings.Repeat("<p>hello compressible world</p>\n", 200)

func decode(t *testing.T, coding string, body []byte) string {
	t.Helper()
	var r io.Reader
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	case "":
		return string(body)
	default:
		t.Fatalf("unexpected coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	return string(out)
}

// serve returns a next handler that sets headers, then writes body in chunks.
func serve(status int, headers map[string]string, chunks ...string) httpserver.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		if status != 0 {
			w.WriteHeader(status)
		}
		for _, c := range chunks {
			if _, err := io.WriteString(w, c); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestHandler(t *testing.T) {
	html := map[string]string{"Content-Type": "text/html; charset=utf-8"}
	tests := []struct {
		name       string
		cfg        Config
		method     string
		path       string
		reqHeaders map[string]string
		next       httpserver.HandlerFunc
		wantCoding string
		wantStatus int
		wantVary   bool
		wantType   string // checked when set
	}{
		{name: "gzip", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page), wantCoding: "gzip", wantVary: true},
		{name: "brotli", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip, br"}, next: serve(0, html, page), wantCoding: "br", wantVary: true},
		{name: "zstd", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip, br, zstd"}, next: serve(0, html, page), wantCoding: "zstd", wantVary: true},
		{name: "chunked writes", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page[:10], page[10:100], page[100:]), wantCoding: "gzip", wantVary: true},
		{name: "no accept", path: "/", next: serve(0, html, page), wantVary: true},
		{name: "sniffed type", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, nil, page), wantCoding: "gzip", wantVary: true, wantType: "text/html; charset=utf-8"},
		{name: "head", method: "HEAD", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html), wantVary: true},
		{name: "range", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-10"}, next: serve(0, html, page), wantVary: true},
		{name: "upgrade", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip", "Upgrade": "websocket"}, next: serve(0, html, page), wantVary: true},
		{name: "image", path: "/a.png", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, map[string]string{"Content-Type": "image/png"}, page), wantVary: true},
		{name: "svg compressed", path: "/a.svg", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, map[string]string{"Content-Type": "image/svg+xml"}, page), wantCoding: "gzip", wantVary: true},
		{name: "sniffed image", path: "/x", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, nil, "\x89PNG\r\n\x1a\n"+page), wantVary: true, wantType: "image/png"},
		{name: "already encoded", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, map[string]string{"Content-Encoding": "br"}, page), wantCoding: "br", wantVary: true},
		{name: "no-transform", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, map[string]string{"Cache-Control": "no-transform"}, page), wantVary: true},
		{name: "204", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(204, nil), wantStatus: 204, wantVary: true},
		{name: "304", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(304, html), wantStatus: 304, wantVary: true},
		{name: "404 page compressed", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(404, html, page), wantCoding: "gzip", wantStatus: 404, wantVary: true},
		{name: "ext listed", cfg: Config{Exts: []string{".html"}}, path: "/a.HTML", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page), wantCoding: "gzip", wantVary: true},
		{name: "ext none listed", cfg: Config{Exts: []string{".html", ""}}, path: "/blog/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page), wantCoding: "gzip", wantVary: true},
		{name: "ext none not listed", cfg: Config{Exts: []string{".html"}}, path: "/blog/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page)},
		{name: "ext not listed", cfg: Config{Exts: []string{".html"}}, path: "/a.js", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page)},
		{name: "not path", cfg: Config{Not: []string{"/raw"}}, path: "/raw/x", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page)},
		{name: "min_length under", cfg: Config{MinLength: 1000}, path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page[:100], page[100:999]), wantVary: true},
		{name: "min_length reached by chunks", cfg: Config{MinLength: 1000}, path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, html, page[:600], page[600:1200], page[1200:]), wantCoding: "gzip", wantVary: true},
		{name: "min_length by content-length", cfg: Config{MinLength: 1000}, path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(0, map[string]string{"Content-Length": "10"}, page[:10]), wantVary: true},
		{name: "empty body", path: "/", reqHeaders: map[string]string{"Accept-Encoding": "gzip"}, next: serve(200, html), wantVary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tt.next, tt.cfg)
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := httptest.NewRequest(method, "http://example.com"+tt.path, nil)
			for k, v := range tt.reqHeaders {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r); err != nil {
				t.Fatal(err)
			}
			res := w.Result()
			wantStatus := tt.wantStatus
			if wantStatus == 0 {
				wantStatus = 200
			}
			if res.StatusCode != wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, wantStatus)
			}
			coding := res.Header.Get("Content-Encoding")
			if coding != tt.wantCoding {
				t.Fatalf("Content-Encoding = %q, want %q", coding, tt.wantCoding)
			}
			if vary := res.Header.Get("Vary") == "Accept-Encoding"; vary != tt.wantVary {
				t.Errorf("Vary = %q, want Accept-Encoding: %v", res.Header.Get("Vary"), tt.wantVary)
			}
			if tt.wantType != "" && res.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tt.wantType)
			}
			if coding != "" && tt.name != "already encoded" && res.Header.Get("Content-Length") != "" {
				t.Error("Content-Length kept on a compressed response")
			}
			// The body must decode to exactly what the handler wrote.
			want := &bytes.Buffer{}
			ref := httptest.NewRecorder()
			_ = tt.next(ref, httptest.NewRequest(method, "/", nil))
			want.Write(ref.Body.Bytes())
			if tt.name == "already encoded" {
				return // the handler's own bytes, passed through
			}
			if got := decode(t, coding, w.Body.Bytes()); got != want.String() {
				t.Errorf("decoded body differs: %d bytes, want %d", len(got), want.Len())
			}
			if coding != "" && w.Body.Len() >= want.Len() {
				t.Errorf("compressed %d bytes into %d", want.Len(), w.Body.Len())
			}
		})
	}
}

func TestETagWeakened(t *testing.T) {
	h := New(serve(0, map[string]string{"ETag": `"abc"`, "Content-Type": "text/plain", "Accept-Ranges": "bytes"}, page), Config{})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	_ = h.ServeHTTP(w, r)
	if got := w.Header().Get("ETag"); got != `W/"abc"` {
		t.Errorf("ETag = %q", got)
	}
	if w.Header().Get("Accept-Ranges") != "" {
		t.Error("Accept-Ranges kept on a compressed response")
	}
}

func TestErrorWithoutWriteLeavesResponseAlone(t *testing.T) {
	boom := httpserver.Error(http.StatusBadGateway, nil)
	h := New(httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return boom }), Config{})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r); err != boom {
		t.Fatalf("err = %v", err)
	}
	if w.Body.Len() != 0 || w.Header().Get("Content-Encoding") != "" {
		t.Errorf("something was written: %d bytes, headers %v", w.Body.Len(), w.Header())
	}
}

func TestVaryNotDuplicated(t *testing.T) {
	h := New(serve(0, nil, page), Config{})
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	w.Header().Set("Vary", "Origin, accept-encoding")
	_ = h.ServeHTTP(w, r)
	if got := w.Header().Values("Vary"); len(got) != 1 {
		t.Errorf("Vary = %q", got)
	}
}

func TestEncoderPoolReuse(t *testing.T) {
	h := New(serve(0, map[string]string{"Content-Type": "text/plain"}, page), Config{MinLength: 10})
	for i := 0; i < 20; i++ {
		for _, coding := range []string{"gzip", "br", "zstd"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept-Encoding", coding)
			w := httptest.NewRecorder()
			_ = h.ServeHTTP(w, r)
			if got := decode(t, coding, w.Body.Bytes()); got != page {
				t.Fatalf("round %d %s: bad body", i, coding)
			}
		}
	}
}

// TestStreamingRealServer checks that Flush pushes compressed data to a real client before the handler
// finishes, and that http.ResponseController works through the wrapper.
func TestStreamingRealServer(t *testing.T) {
	release := make(chan struct{})
	h := New(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		<-release
		_, _ = io.WriteString(w, "data: second\n\n")
		return nil
	}), Config{MinLength: 1 << 20})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand, so the client does not decompress for us
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("data: first\n\n"))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(zr, first); done <- err }()
	select {
	case err := <-done:
		if err != nil || string(first) != "data: first\n\n" {
			t.Fatalf("first event: %q %v", first, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("flushed event did not arrive while the handler was still running")
	}
	close(release)
	rest, err := io.ReadAll(zr)
	if err != nil || string(rest) != "data: second\n\n" {
		t.Fatalf("rest = %q, %v", rest, err)
	}
}

func BenchmarkGzip(b *testing.B) {
	h := New(serve(0, map[string]string{"Content-Type": "text/html"}, page), Config{})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Encoding", "gzip, br")
	b.ReportAllocs()
	for b.Loop() {
		_ = h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

func TestConcurrentRequests(t *testing.T) {
	h := New(serve(0, map[string]string{"Content-Type": "text/plain"}, page), Config{Level: 1})
	codings := []string{"gzip", "br", "zstd"}
	errs := make(chan string, 60)
	for i := 0; i < 60; i++ {
		go func(coding string) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept-Encoding", coding)
			w := httptest.NewRecorder()
			_ = h.ServeHTTP(w, r)
			if w.Header().Get("Content-Encoding") != coding {
				errs <- "wrong coding for " + coding
				return
			}
			errs <- ""
		}(codings[i%3])
	}
	for i := 0; i < 60; i++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
