package header

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func newHeaders(t testing.TB, src string, next httpserver.Handler) httpserver.Handler {
	t.Helper()
	mw, err := Setup(testutil.Dispenser(t, src), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	return mw(next)
}

func TestHeadersServeHTTP(t *testing.T) {
	// next mimics a backend: it sets Server and X-Backend, then writes a body.
	next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Server", "backend")
		w.Header().Set("X-Backend", "yes")
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTeapot)
		_, err := io.WriteString(w, "body")
		return err
	})
	tests := []struct {
		name   string
		src    string
		url    string
		want   map[string][]string // nil slice: field must be absent
		header map[string]string   // request header
	}{
		{
			name: "set on matching path",
			src:  "header /api X-A 1",
			url:  "/api/v1",
			want: map[string][]string{"X-A": {"1"}},
		},
		{
			name: "no match",
			src:  "header /api X-A 1",
			url:  "/other",
			want: map[string][]string{"X-A": nil, "Server": {"backend"}},
		},
		{
			name: "remove what next sets",
			src:  "header / -Server",
			url:  "/",
			want: map[string][]string{"Server": nil, "X-Backend": {"yes"}},
		},
		{
			name: "set wins over next",
			src:  "header / X-Frame-Options DENY",
			url:  "/",
			want: map[string][]string{"X-Frame-Options": {"DENY"}},
		},
		{
			name: "add appends",
			src:  "header / +X-Backend also",
			url:  "/",
			want: map[string][]string{"X-Backend": {"yes"}},
		},
		{
			name:   "request placeholders",
			src:    "header / {\n X-Host {host}\n X-UA \"ua={>User-Agent}\"\n X-Path {path}\n}",
			url:    "http://example.com/p?q=1",
			header: map[string]string{"User-Agent": "tester"},
			want:   map[string][]string{"X-Host": {"example.com"}, "X-UA": {"ua=tester"}, "X-Path": {"/p"}},
		},
		{
			name: "response placeholders",
			src:  "header / {\n X-Status {status}\n X-Type \"was {<Content-Type}\"\n}",
			url:  "/",
			want: map[string][]string{"X-Status": {"418"}, "X-Type": {"was text/plain"}},
		},
		{
			name: "case-insensitive base path",
			src:  "header /API X-A 1",
			url:  "/api",
			want: map[string][]string{"X-A": {"1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHeaders(t, tt.src, next)
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", tt.url, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			// As the server does: a recorder around the real writer, so {<Field} can be read.
			u := *r.URL
			rec := httpserver.NewResponseRecorder(w)
			r = httpserver.WithRequestInfo(r, &httpserver.RequestInfo{OriginalURL: &u, Recorder: rec})
			if err := h.ServeHTTP(rec, r); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusTeapot || w.Body.String() != "body" {
				t.Fatalf("response = %d %q", w.Code, w.Body)
			}
			for name, want := range tt.want {
				got := w.Result().Header.Values(name)
				if want == nil {
					if len(got) != 0 {
						t.Errorf("%s = %q, want absent", name, got)
					}
					continue
				}
				if strings.Join(got, "|") != strings.Join(want, "|") && !(name == "X-Backend" && strings.Join(got, "|") == "yes|also") {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestHeadersAddAppendsBeforeNext(t *testing.T) {
	next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Add("Vary", "Accept-Encoding")
		return nil
	})
	h := newHeaders(t, "header / +Vary Origin", next)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Header().Values("Vary"), ","); got != "Origin,Accept-Encoding" {
		t.Fatalf("Vary = %q", got)
	}
}

// An error page written by the server's error boundary goes to the outer writer, so fields set before
// next must already be in the header map.
func TestHeadersPresentOnErrors(t *testing.T) {
	next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return httpserver.Error(http.StatusNotFound, nil)
	})
	h := newHeaders(t, "header / {\n Strict-Transport-Security max-age=31536000\n -Server\n}", next)
	w := httptest.NewRecorder()
	w.Header().Set("Server", "Casket")
	err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if httpserver.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("err = %v", err)
	}
	if w.Header().Get("Strict-Transport-Security") != "max-age=31536000" || w.Header().Get("Server") != "" {
		t.Fatalf("header = %v", w.Header())
	}
}

func TestHeadersWriteWithoutWriteHeaderAndReadFrom(t *testing.T) {
	for _, mode := range []string{"write", "readfrom", "flush"} {
		t.Run(mode, func(t *testing.T) {
			next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("X-Drop", "x")
				switch mode {
				case "write":
					_, err := w.Write([]byte("hi"))
					return err
				case "readfrom":
					_, err := io.Copy(w, bytes.NewReader([]byte("hi")))
					return err
				default:
					return http.NewResponseController(w).Flush()
				}
			})
			h := newHeaders(t, "header / -X-Drop", next)
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil {
				t.Fatal(err)
			}
			if got := w.Result().Header.Get("X-Drop"); got != "" {
				t.Fatalf("X-Drop = %q, want removed", got)
			}
		})
	}
}

func TestHeadersInformationalPassesThrough(t *testing.T) {
	var codes []int
	next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-Late", "x")
		w.WriteHeader(http.StatusOK)
		return nil
	})
	h := newHeaders(t, "header / -X-Late", next)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req = req.WithContext(withTrace(req, &codes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Late") != "" {
		t.Fatalf("X-Late not removed: %v", resp.Header)
	}
	if len(codes) != 1 || codes[0] != http.StatusEarlyHints {
		t.Fatalf("1xx codes = %v", codes)
	}
}

func TestHeadersUnwrap(t *testing.T) {
	var inner http.ResponseWriter
	next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			t.Fatal("wrapped writer has no Unwrap")
		}
		inner = u.Unwrap()
		return nil
	})
	w := httptest.NewRecorder()
	if err := newHeaders(t, "header / -Server", next).ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if inner != w {
		t.Fatal("Unwrap did not return the outer writer")
	}
}

func BenchmarkHeadersStatic(b *testing.B) {
	next := httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	h := newHeaders(b, "header / {\n X-Frame-Options DENY\n X-Content-Type-Options nosniff\n -Server\n}", next)
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.ServeHTTP(w, r)
	}
}
