package mime

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestMimeServeHTTP(t *testing.T) {
	tests := []struct {
		name, src, url, want string
	}{
		{name: "configured", src: "mime .swf application/x-shockwave-flash", url: "/a/b.swf", want: "application/x-shockwave-flash"},
		{name: "case-insensitive", src: "mime .swf application/x-shockwave-flash", url: "/B.SWF", want: "application/x-shockwave-flash"},
		{name: "other extension", src: "mime .swf application/x-shockwave-flash", url: "/b.png", want: "sniffed"},
		{name: "no extension", src: "mime .swf application/x-shockwave-flash", url: "/swf", want: "sniffed"},
		{name: "directory with dot", src: "mime .d x/d", url: "/a.d/", want: "sniffed"},
		{name: "defaults", src: "mime ext_defaults", url: "/app.wasm", want: "application/wasm"},
		{name: "defaults unknown", src: "mime ext_defaults", url: "/x.unknownext", want: "sniffed"},
		{name: "configured beats defaults", src: "mime {\n ext_defaults\n .js application/javascript\n}", url: "/a.js", want: "application/javascript"},
		{name: "defaults off", src: "mime .a x/a", url: "/a.wasm", want: "sniffed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if err != nil {
				t.Fatal(err)
			}
			// next behaves like the file server: it keeps a Content-Type that is already set.
			h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if w.Header().Get("Content-Type") == "" {
					w.Header().Set("Content-Type", "sniffed")
				}
				return nil
			}))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, httptest.NewRequest("GET", tt.url, nil)); err != nil {
				t.Fatal(err)
			}
			if got := w.Header().Get("Content-Type"); got != tt.want {
				t.Fatalf("Content-Type = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultType(t *testing.T) {
	for ext, want := range map[string]string{
		".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
		".woff2": "font/woff2", ".mp4": "video/mp4", ".pdf": "application/pdf", ".zip": "application/zip",
	} {
		got, ok := DefaultType(ext)
		if !ok || !strings.HasPrefix(got, want) {
			t.Errorf("DefaultType(%q) = %q, %v; want %q", ext, got, ok, want)
		}
	}
	if _, ok := DefaultType(".nope"); ok {
		t.Error("DefaultType(.nope) found a type")
	}
}

func BenchmarkMime(b *testing.B) {
	mw, err := Setup(testutil.Dispenser(b, "mime {\n ext_defaults\n .foo x/foo\n}"), &httpserver.Site{})
	if err != nil {
		b.Fatal(err)
	}
	h := mw(httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	r := httptest.NewRequest("GET", "/static/app.css", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.ServeHTTP(w, r)
	}
}
