package redir

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestRedirectServeHTTP(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		url      string
		tls      bool
		header   map[string]string
		wantCode int    // 0: passed to next
		wantLoc  string // Location header
	}{
		{name: "exact match", src: "redir /old /new", url: "/old", wantCode: 301, wantLoc: "/new"},
		{name: "exact only", src: "redir /old /new", url: "/old/x", wantCode: 0},
		{name: "no prefix match", src: "redir /old /new", url: "/older", wantCode: 0},
		{name: "catch-all with uri", src: "redir https://example.com{uri}", url: "/a/b?c=d", wantCode: 301, wantLoc: "https://example.com/a/b?c=d"},
		{name: "code", src: "redir /a /b 307", url: "/a", wantCode: 307, wantLoc: "/b"},
		{name: "308", src: "redir /a /b 308", url: "/a", wantCode: 308, wantLoc: "/b"},
		{name: "table code override", src: "redir 302 {\n /a /x\n /b /y 303\n}", url: "/b", wantCode: 303, wantLoc: "/y"},
		{name: "table default", src: "redir 302 {\n /a /x\n /b /y 303\n}", url: "/a", wantCode: 302, wantLoc: "/x"},
		{name: "table first wins", src: "redir {\n /a /x\n / /y\n}", url: "/a", wantCode: 301, wantLoc: "/x"},
		{name: "condition true", src: "redir 301 {\n if {>X-Forwarded-Proto} is http\n / https://{host}{uri}\n}",
			url: "http://example.com/p?q=1", header: map[string]string{"X-Forwarded-Proto": "http"},
			wantCode: 301, wantLoc: "https://example.com/p?q=1"},
		{name: "condition false", src: "redir 301 {\n if {>X-Forwarded-Proto} is http\n / https://{host}{uri}\n}",
			url: "http://example.com/p", header: map[string]string{"X-Forwarded-Proto": "https"}, wantCode: 0},
		{name: "if_op or", src: "redir {\n if {?a} is 1\n if {?b} is 1\n if_op or\n /p /q\n}", url: "/p?b=1", wantCode: 301, wantLoc: "/q"},
		{name: "catch-all to itself passes", src: "redir http://example.com{uri}", url: "http://example.com/x?y", wantCode: 0},
		{name: "catch-all path to itself passes", src: "redir {path}", url: "/x", wantCode: 0},
		{name: "catch-all https to http redirects", src: "redir http://{host}{uri}", url: "https://example.com/x", tls: true,
			wantCode: 301, wantLoc: "http://example.com/x"},
		{name: "http to https", src: "redir https://{host}{uri}", url: "http://example.com/x", wantCode: 301, wantLoc: "https://example.com/x"},
		{name: "https to https passes", src: "redir https://{host}{uri}", url: "https://example.com/x", tls: true, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if err != nil {
				t.Fatal(err)
			}
			called := false
			h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				called = true
				return nil
			}))
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r); err != nil {
				t.Fatal(err)
			}
			if tt.wantCode == 0 {
				if !called {
					t.Fatalf("next not called; got %d Location %q", w.Code, w.Header().Get("Location"))
				}
				return
			}
			if called {
				t.Fatal("next was called")
			}
			if w.Code != tt.wantCode || w.Header().Get("Location") != tt.wantLoc {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Header().Get("Location"), tt.wantCode, tt.wantLoc)
			}
		})
	}
}

func TestRedirectMetaEscapes(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, "redir /go {?to} meta"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		t.Fatal("next called")
		return nil
	}))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", `/go?to=%27%22%3E%3Cscript%3Ealert(1)%3C/script%3E`, nil)
	if err := h.ServeHTTP(w, r); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if w.Code != http.StatusOK || w.Header().Get("Location") != "" {
		t.Fatalf("meta answered %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("Content-Type = %q", w.Header().Get("Content-Type"))
	}
	if strings.Contains(body, "<script>") {
		t.Fatalf("target not escaped:\n%s", body)
	}
	if !strings.Contains(body, `content="0; url='&#39;&#34;&gt;&lt;script&gt;`) {
		t.Fatalf("meta refresh missing:\n%s", body)
	}
}

func TestRedirectMetaRefusesScriptURLs(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, "redir /go {?to} meta"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(nil)
	for _, to := range []string{"javascript:alert(1)", " JavaScript:alert(1)", "java%09script:alert(1)", "data:text/html,x", "vbscript:x"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/go?to="+url.QueryEscape(to), nil)
		if to == "java%09script:alert(1)" {
			r = httptest.NewRequest("GET", "/go?to="+to, nil) // a tab inside the scheme
		}
		err := h.ServeHTTP(w, r)
		if httpserver.StatusOf(err) != http.StatusBadRequest || w.Body.Len() != 0 {
			t.Errorf("%q: err = %v, body %q", to, err, w.Body)
		}
	}
	for _, to := range []string{"https://example.com/x", "HTTP://example.com", "/local:path", "rel/a:b", "?q=a:b", "//example.com/a"} {
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/go?to="+url.QueryEscape(to), nil)); err != nil || w.Code != 200 {
			t.Errorf("%q: refused: %v", to, err)
		}
	}
}

func TestRedirectMetaPlain(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, "redir /a /b?x=1&y=2 meta"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := mw(nil).ServeHTTP(w, httptest.NewRequest("GET", "/a", nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Body.String(), `href="/b?x=1&amp;y=2"`) {
		t.Fatalf("body:\n%s", w.Body)
	}
}

func BenchmarkRedirectMiss(b *testing.B) {
	mw, err := Setup(testutil.Dispenser(b, "redir 301 {\n /a /b\n /c /d\n /e https://{host}{uri}\n}"), &httpserver.Site{})
	if err != nil {
		b.Fatal(err)
	}
	h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil }))
	r := httptest.NewRequest("GET", "/zzz", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.ServeHTTP(w, r)
	}
}
