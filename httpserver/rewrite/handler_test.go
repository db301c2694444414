package rewrite

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// siteRoot builds a document root with a few files and directories.
func siteRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range []string{"index.php", "maintenance.html", "exists.html", "docs/index.html", "mobile/index.php"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// serve runs the rewrite directive src for url and returns the URL and original URI next saw, or ""
// for the path when next was not called.
func serve(t *testing.T, src, root, target string, header map[string]string) (gotURI, origURI string) {
	t.Helper()
	mw, err := Setup(testutil.Dispenser(t, src), &httpserver.Site{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rp := httpserver.NewReplacer(r, "")
		gotURI, _ = rp.Value("rewrite_uri")
		origURI, _ = rp.Value("uri")
		return nil
	}))
	r := httptest.NewRequest("GET", target, nil)
	u := *r.URL
	r = httpserver.WithRequestInfo(r, &httpserver.RequestInfo{OriginalURL: &u})
	for k, v := range header {
		r.Header.Set(k, v)
	}
	if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	return gotURI, origURI
}

func TestRewriteServeHTTP(t *testing.T) {
	root := siteRoot(t)
	tests := []struct {
		name   string
		src    string
		url    string
		header map[string]string
		want   string // the URI next sees
	}{
		{name: "simple regex everything", src: "rewrite .* /index.php", url: "/a/b?x=1", want: "/index.php?x=1"},
		{name: "simple regex no match", src: "rewrite ^/mobile$ /mobile/index", url: "/desktop", want: "/desktop"},
		{name: "simple exact via anchors", src: "rewrite ^/mobile$ /mobile/index", url: "/mobile", want: "/mobile/index"},
		{name: "simple is a regex, not a prefix", src: "rewrite /mobile /mobile/index", url: "/x/mobile/y", want: "/mobile/index"},
		{name: "simple captures", src: `rewrite ^/user/(\d+)$ /profile.php?id={1}`, url: "/user/42", want: "/profile.php?id=42"},
		{name: "simple not", src: "rewrite not ^/api/ /index.php", url: "/page", want: "/index.php"},
		{name: "simple not skips matching", src: "rewrite not ^/api/ /index.php", url: "/api/x", want: "/api/x"},
		{name: "first existing destination", src: "rewrite {\n to {path} {path}/ /maintenance.html /index.php\n}", url: "/nope", want: "/maintenance.html"},
		{name: "existing file kept", src: "rewrite {\n to {path} {path}/ /index.php\n}", url: "/exists.html", want: "/exists.html"},
		{name: "directory needs slash", src: "rewrite {\n to {path} {path}/ /index.php\n}", url: "/docs", want: "/docs/"},
		{name: "last is fallback", src: "rewrite {\n to {path} /missing.html /fallback\n}", url: "/nope", want: "/fallback"},
		{name: "condition blocks", src: "rewrite {\n if {file} not favicon.ico\n to /index.php\n}", url: "/favicon.ico", want: "/favicon.ico"},
		{name: "condition allows", src: "rewrite {\n if {file} not favicon.ico\n to /index.php\n}", url: "/a.png", want: "/index.php"},
		{name: "user agent", src: "rewrite {\n if {>User-Agent} has mobile\n to {path} {path}/ /mobile/index.php\n}",
			url: "/app", header: map[string]string{"User-Agent": "x mobile y"}, want: "/mobile/index.php"},
		{name: "base and capture", src: "rewrite /app {\n r (.*)\n to /index?path={1}\n}", url: "/app/x/y", want: "/index?path=/x/y"},
		{name: "base with trailing slash keeps leading slash", src: "rewrite /app/ {\n r ^/(\\w+)/?$\n to /index?category={1}\n}", url: "/app/example", want: "/index?category=example"},
		{name: "base not matched", src: "rewrite /app {\n to /index\n}", url: "/other", want: "/other"},
		{name: "ext include", src: "rewrite {\n ext .html\n to /index.php\n}", url: "/a.html", want: "/index.php"},
		{name: "ext include other", src: "rewrite {\n ext .html\n to /index.php\n}", url: "/a.css", want: "/a.css"},
		{name: "ext exclude", src: "rewrite {\n ext !.css\n to /index.php\n}", url: "/a.CSS", want: "/a.CSS"},
		{name: "ext exclude other", src: "rewrite {\n ext !.css\n to /index.php\n}", url: "/a.js", want: "/index.php"},
		{name: "ext slash", src: "rewrite {\n ext /\n to /index.php\n}", url: "/clean/url", want: "/index.php"},
		{name: "ext slash skips files", src: "rewrite {\n ext /\n to /index.php\n}", url: "/file.txt", want: "/file.txt"},
		{name: "query kept", src: "rewrite /a /b", url: "/a?q=1", want: "/b?q=1"},
		{name: "query replaced", src: "rewrite /a /b?x=2", url: "/a?q=1", want: "/b?x=2"},
		{name: "query merged with placeholder", src: "rewrite /a /b?{query}&x=2", url: "/a?q=1", want: "/b?q=1&x=2"},
		{name: "query placeholder in query", src: "rewrite /a /b?lang={?l}&x=1", url: "/a?l=de", want: "/b?lang=de&x=1"},
		{name: "query placeholder in path part", src: "rewrite /a /b/{?l}", url: "/a?l=de", want: "/b/de?l=de"},
		{name: "uri brings its query", src: "rewrite ^/a /x{uri}", url: "/a?q=1", want: "/x/a?q=1"},
		{name: "capture with question mark stays in path", src: "rewrite ^/f/(.*)$ /files/{1}?dl=1", url: "/f/what%3F", want: "/files/what%3F?dl=1"},
		{name: "query only", src: "rewrite /a ?lang=de", url: "/a?q=1", want: "/a?lang=de"},
		{name: "dot segments cleaned", src: "rewrite ^/x /../../etc/passwd", url: "/x", want: "/etc/passwd"},
		{name: "relative destination made absolute", src: "rewrite ^/x index.php", url: "/x", want: "/index.php"},
		{name: "if_op or", src: "rewrite {\n if {?a} is 1\n if {?b} is 1\n if_op or\n to /yes\n}", url: "/?b=1", want: "/yes?b=1"},
		{name: "condition on capture", src: "rewrite {\n r ^/(\\w+)$\n if {1} is admin\n to /admin.php\n}", url: "/admin", want: "/admin.php"},
		{name: "condition on capture fails", src: "rewrite {\n r ^/(\\w+)$\n if {1} is admin\n to /admin.php\n}", url: "/guest", want: "/guest"},
		{name: "one rule per request", src: "rewrite ^/a$ /b\nrewrite ^/b$ /c", url: "/a", want: "/b"},
		{name: "longest base wins", src: "rewrite / {\n to /root\n}\nrewrite /api {\n to /api.php\n}", url: "/api/x", want: "/api.php"},
		{name: "falls back to less specific rule", src: "rewrite /api {\n r ^/v1/\n to /v1.php\n}\nrewrite {\n to /index.php\n}", url: "/api/v2/x", want: "/index.php"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, orig := serve(t, tt.src, root, tt.url, tt.header)
			if got != tt.want {
				t.Fatalf("rewrote %s to %q, want %q", tt.url, got, tt.want)
			}
			if orig != tt.url {
				t.Fatalf("{uri} = %q, want the original %q", orig, tt.url)
			}
		})
	}
}

// Two rewrite directives compile to two middlewares; the second must not rewrite again.
func TestRewriteOncePerRequestAcrossMiddlewares(t *testing.T) {
	site := &httpserver.Site{Root: t.TempDir()}
	first, err := Setup(testutil.Dispenser(t, "rewrite ^/a$ /b"), site)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Setup(testutil.Dispenser(t, "rewrite ^/b$ /c"), site)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := first(second(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got = r.URL.Path
		return nil
	})))
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a", nil)); err != nil {
		t.Fatal(err)
	}
	if got != "/b" {
		t.Fatalf("path = %q, want /b", got)
	}
}

// The root is read from the Site at request time, so a later `root` directive is honoured.
func TestRewriteReadsRootAtRequestTime(t *testing.T) {
	site := &httpserver.Site{}
	mw, err := Setup(testutil.Dispenser(t, "rewrite {\n to {path} /index.php\n}"), site)
	if err != nil {
		t.Fatal(err)
	}
	site.Root = siteRoot(t)
	var got string
	h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got = r.URL.Path
		return nil
	}))
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/exists.html", nil)); err != nil {
		t.Fatal(err)
	}
	if got != "/exists.html" {
		t.Fatalf("path = %q, want /exists.html", got)
	}
}

func TestRewriteKeepsOriginalRequest(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, "rewrite .* /x?y=1"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/a?b=2", nil)
	if err := mw(httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })).ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	if r.URL.Path != "/a" || r.URL.RawQuery != "b=2" {
		t.Fatalf("caller's request changed to %s", r.URL)
	}
}

func BenchmarkRewriteNoMatch(b *testing.B) {
	mw, err := Setup(testutil.Dispenser(b, "rewrite /api {\n r ^/v1/(.*)\n to /v1.php?{1}\n}"), &httpserver.Site{})
	if err != nil {
		b.Fatal(err)
	}
	h := mw(httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	r := httptest.NewRequest("GET", "/static/app.js", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.ServeHTTP(w, r)
	}
}
