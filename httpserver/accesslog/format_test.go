package accesslog

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
)

// FuzzCompile checks that a compiled format renders exactly what the placeholder replacer produces for
// the same text, for formats without secrets or line breaks.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{CommonFormat, CombinedFormat, "{common} {latency_ms}", `\{x\} {method}`,
		"{", "}", "{}", "{{path}}", `\`, "a{host}b{unknown}c", "{?q}{>X-A}{label1}"} {
		f.Add(seed)
	}
	r := httptest.NewRequest("GET", "http://example.com/a?q=1", nil)
	r.Header.Set("X-A", "b")
	r = httpserver.WithRequestInfo(r, httpserver.InfoFrom(r))
	f.Fuzz(func(t *testing.T, format string) {
		if strings.ContainsAny(format, "\r\n") || strings.Contains(format, "latency") || strings.Contains(format, "{common}") || strings.Contains(format, "{combined}") {
			return // expanded or time-dependent, or escaped on purpose
		}
		segs := compile(format)
		for _, s := range segs {
			if s.secret {
				return
			}
		}
		rp := httpserver.NewReplacer(r, "-")
		var buf bytes.Buffer
		render(&buf, segs, rp, nil)
		want := rp.Replace(format) + "\n"
		if buf.String() != want {
			t.Errorf("format %q: render %q, replacer %q", format, buf.String(), want)
		}
	})
}
