package httpserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark measures the dispatch.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkServeHTTP measures the per-request work of the server: Server header, vhost lookup (exact,
// wildcard and path-scoped sites among 50), RequestInfo and recorder, base-path trimming and the chain.
func BenchmarkServeHTTP(b *testing.B) {
	var src strings.Builder
	for i := range 50 {
		fmt.Fprintf(&src, "site%d.example.com:2015 {\n}\n", i)
	}
	src.WriteString("*.wild.example.com:2015 {\n}\nsite7.example.com:2015/api {\n}\n")
	final := func(s *Site) Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	}
	in, err := Build(parseBlocks(b, src.String()), Options{Final: final})
	if err != nil {
		b.Fatal(err)
	}
	plans, err := planListeners(in.Sites(), in.opts)
	if err != nil {
		b.Fatal(err)
	}
	srv := newServer(plans[0], in.opts, in.log)

	cases := []struct{ name, host, target string }{
		{"exact", "site42.example.com", "/index.html"},
		{"wildcard", "www.wild.example.com:2015", "/"},
		{"basepath", "site7.example.com", "/api/users?id=1"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", c.target, nil)
			req.Host = c.host
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				srv.ServeHTTP(w, req)
			}
		})
	}
}
