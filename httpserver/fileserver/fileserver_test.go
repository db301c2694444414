package fileserver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
)

const helloTxt = "hello, world\n"

// newTestSite lays out a small site and returns the server for it.
func newTestSite(t *testing.T) (*FileServer, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"index.html":      "<h1>home</h1>",
		"a.txt":           helloTxt,
		"sub/index.html":  "sub index",
		"noindex/x.txt":   "x",
		"Casketfile":      "localhost\nroot .",
		"style.css":       "body{color:red}",
		"style.css.gz":    "GZ",
		"style.css.br":    "BR",
		"style.css.zst":   "ZSTD",
		"only.js":         "plain",
		"only.js.gz":      "GZONLY",
		"empty.txt":       "",
		"noext":           "\x89PNG\r\n\x1a\nrest",
		"dir with space/": "",
		"uni/ü.txt":       "umlaut",
		"big.bin":         strings.Repeat("0123456789abcdef", 32768), // 512 KiB: streamed from disk
	})
	if err := os.Symlink("a.txt", filepath.Join(dir, "link-in")); err != nil {
		t.Fatal(err)
	}
	site := &httpserver.Site{Root: dir, ConfigFile: filepath.Join(dir, "Casketfile")}
	return newFileServer(site), dir
}

func TestServe(t *testing.T) {
	fsrv, _ := newTestSite(t)
	tests := []struct {
		name       string
		method     string
		target     string
		hdr        map[string]string
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{name: "file", target: "/a.txt", wantStatus: 200, wantBody: helloTxt,
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Length": "13", "Accept-Ranges": "bytes"}},
		{name: "head", method: "HEAD", target: "/a.txt", wantStatus: 200, wantBody: "",
			wantHeader: map[string]string{"Content-Length": "13"}},
		{name: "post not allowed", method: "POST", target: "/a.txt", wantStatus: 405,
			wantHeader: map[string]string{"Allow": "GET, HEAD"}},
		{name: "delete not allowed", method: "DELETE", target: "/a.txt", wantStatus: 405},
		{name: "root index", target: "/", wantStatus: 200, wantBody: "<h1>home</h1>",
			wantHeader: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "subdir index", target: "/sub/", wantStatus: 200, wantBody: "sub index"},
		{name: "dir without slash", target: "/sub?x=1", wantStatus: 307,
			wantHeader: map[string]string{"Location": "/sub/?x=1"}},
		{name: "dir with space", target: "/dir%20with%20space", wantStatus: 307,
			wantHeader: map[string]string{"Location": "/dir%20with%20space/"}},
		{name: "file with slash", target: "/a.txt/", wantStatus: 307,
			wantHeader: map[string]string{"Location": "/a.txt"}},
		{name: "dir without index", target: "/noindex/", wantStatus: 404},
		{name: "missing", target: "/nope.txt", wantStatus: 404},
		{name: "missing in file", target: "/a.txt/b", wantStatus: 404},
		{name: "casketfile hidden", target: "/Casketfile", wantStatus: 404},
		{name: "symlink inside root", target: "/link-in", wantStatus: 200, wantBody: helloTxt},
		{name: "unicode name", target: "/uni/%C3%BC.txt", wantStatus: 200, wantBody: "umlaut"},
		{name: "sniffed type", target: "/noext", wantStatus: 200, wantBody: "\x89PNG\r\n\x1a\nrest", wantHeader: map[string]string{"Content-Type": "image/png"}},
		{name: "empty file", target: "/empty.txt", wantStatus: 200, wantBody: "", wantHeader: map[string]string{"Content-Length": "0"}},
		{name: "big file", target: "/big.bin", wantStatus: 200, wantBody: strings.Repeat("0123456789abcdef", 32768),
			wantHeader: map[string]string{"Content-Length": "524288"}},
		{name: "dot segments cleaned", target: "/sub/../a.txt", wantStatus: 200, wantBody: helloTxt},

		// precompressed siblings
		{name: "zstd preferred", target: "/style.css", hdr: map[string]string{"Accept-Encoding": "gzip, br, zstd"},
			wantStatus: 200, wantBody: "ZSTD",
			wantHeader: map[string]string{"Content-Encoding": "zstd", "Content-Type": "text/css; charset=utf-8", "Vary": "Accept-Encoding", "Content-Length": "4"}},
		{name: "br over gzip", target: "/style.css", hdr: map[string]string{"Accept-Encoding": "gzip, br"},
			wantStatus: 200, wantBody: "BR", wantHeader: map[string]string{"Content-Encoding": "br"}},
		{name: "q-values respected", target: "/style.css", hdr: map[string]string{"Accept-Encoding": "br;q=0.5, gzip"},
			wantStatus: 200, wantBody: "GZ", wantHeader: map[string]string{"Content-Encoding": "gzip"}},
		{name: "q=0 refuses", target: "/style.css", hdr: map[string]string{"Accept-Encoding": "zstd;q=0, br"},
			wantStatus: 200, wantBody: "BR"},
		{name: "star", target: "/style.css", hdr: map[string]string{"Accept-Encoding": "*"},
			wantStatus: 200, wantBody: "ZSTD"},
		{name: "identity only", target: "/style.css", hdr: map[string]string{"Accept-Encoding": "identity"},
			wantStatus: 200, wantBody: "body{color:red}", wantHeader: map[string]string{"Content-Encoding": "", "Vary": "Accept-Encoding"}},
		{name: "no accept-encoding", target: "/style.css", wantStatus: 200, wantBody: "body{color:red}",
			wantHeader: map[string]string{"Vary": "Accept-Encoding"}},
		{name: "gzip only sibling", target: "/only.js", hdr: map[string]string{"Accept-Encoding": "zstd, br, gzip"},
			wantStatus: 200, wantBody: "GZONLY", wantHeader: map[string]string{"Content-Type": "text/javascript; charset=utf-8"}},
		{name: "no sibling no vary", target: "/a.txt", hdr: map[string]string{"Accept-Encoding": "gzip"},
			wantStatus: 200, wantBody: helloTxt, wantHeader: map[string]string{"Vary": "", "Content-Encoding": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			rec := do(t, fsrv, method, tt.target, tt.hdr)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantStatus < 300 && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tt.wantStatus == 200 && (rec.Header().Get("Etag") == "" || rec.Header().Get("Last-Modified") == "") {
				t.Errorf("missing validators: %v", rec.Header())
			}
		})
	}
}

func TestVariantsHaveOwnETags(t *testing.T) {
	fsrv, _ := newTestSite(t)
	seen := map[string]string{}
	for _, ae := range []string{"", "gzip", "br", "zstd"} {
		rec := do(t, fsrv, "GET", "/style.css", map[string]string{"Accept-Encoding": ae})
		et := rec.Header().Get("Etag")
		if prev, dup := seen[et]; dup {
			t.Errorf("encodings %q and %q share ETag %s", prev, ae, et)
		}
		seen[et] = ae
		// A conditional request with the representation's own tag is a 304.
		rec = do(t, fsrv, "GET", "/style.css", map[string]string{"Accept-Encoding": ae, "If-None-Match": et})
		if rec.Code != 304 {
			t.Errorf("%q: If-None-Match own tag: status %d", ae, rec.Code)
		}
	}
}

func TestConditional(t *testing.T) {
	fsrv, dir := newTestSite(t)
	mod := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "a.txt"), mod, mod); err != nil {
		t.Fatal(err)
	}
	first := do(t, fsrv, "GET", "/a.txt", nil)
	etag := first.Header().Get("Etag")
	lastMod := first.Header().Get("Last-Modified")
	if lastMod != "Fri, 01 Mar 2024 12:00:00 GMT" {
		t.Fatalf("Last-Modified = %q", lastMod)
	}
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"if-none-match equal", map[string]string{"If-None-Match": etag}, 304},
		{"if-none-match weak", map[string]string{"If-None-Match": "W/" + etag}, 304},
		{"if-none-match list", map[string]string{"If-None-Match": `"x", ` + etag}, 304},
		{"if-none-match star", map[string]string{"If-None-Match": "*"}, 304},
		{"if-none-match other", map[string]string{"If-None-Match": `"other"`}, 200},
		{"if-modified-since same", map[string]string{"If-Modified-Since": lastMod}, 304},
		{"if-modified-since later", map[string]string{"If-Modified-Since": after}, 304},
		{"if-modified-since earlier", map[string]string{"If-Modified-Since": before}, 200},
		{"if-modified-since garbage", map[string]string{"If-Modified-Since": "yesterday"}, 200},
		{"inm wins over ims", map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": after}, 200},
		{"if-match equal", map[string]string{"If-Match": etag}, 200},
		{"if-match star", map[string]string{"If-Match": "*"}, 200},
		{"if-match other", map[string]string{"If-Match": `"other"`}, 412},
		{"if-match weak fails", map[string]string{"If-Match": "W/" + etag}, 412},
		{"if-unmodified-since earlier", map[string]string{"If-Unmodified-Since": before}, 412},
		{"if-unmodified-since later", map[string]string{"If-Unmodified-Since": after}, 200},
		{"if-unmodified-since same", map[string]string{"If-Unmodified-Since": lastMod}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, fsrv, "GET", "/a.txt", tt.hdr)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want == 304 {
				if rec.Body.Len() != 0 || rec.Header().Get("Etag") != etag {
					t.Errorf("304 body %q etag %q", rec.Body.String(), rec.Header().Get("Etag"))
				}
				if rec.Header().Get("Content-Length") != "" {
					t.Errorf("304 with Content-Length")
				}
			}
		})
	}
}

func TestRanges(t *testing.T) {
	fsrv, _ := newTestSite(t)
	etag := do(t, fsrv, "GET", "/a.txt", nil).Header().Get("Etag")
	big := strings.Repeat("0123456789abcdef", 8192)
	tests := []struct {
		name      string
		target    string
		hdr       map[string]string
		want      int
		wantBody  string
		wantRange string
	}{
		{"first bytes", "/a.txt", map[string]string{"Range": "bytes=0-4"}, 206, "hello", "bytes 0-4/13"},
		{"suffix", "/a.txt", map[string]string{"Range": "bytes=-6"}, 206, "world\n", "bytes 7-12/13"},
		{"open ended", "/a.txt", map[string]string{"Range": "bytes=7-"}, 206, "world\n", "bytes 7-12/13"},
		{"end clamped", "/a.txt", map[string]string{"Range": "bytes=7-100"}, 206, "world\n", "bytes 7-12/13"},
		{"suffix larger than file", "/a.txt", map[string]string{"Range": "bytes=-100"}, 206, helloTxt, "bytes 0-12/13"},
		{"unsatisfiable", "/a.txt", map[string]string{"Range": "bytes=13-"}, 416, "", "bytes */13"},
		{"syntax error ignored", "/a.txt", map[string]string{"Range": "bytes=a-b"}, 200, helloTxt, ""},
		{"reversed ignored", "/a.txt", map[string]string{"Range": "bytes=5-1"}, 200, helloTxt, ""},
		{"other unit ignored", "/a.txt", map[string]string{"Range": "items=0-1"}, 200, helloTxt, ""},
		{"overlapping beyond size ignored", "/a.txt", map[string]string{"Range": "bytes=0-12,0-12"}, 200, helloTxt, ""},
		{"if-range match", "/a.txt", map[string]string{"Range": "bytes=0-4", "If-Range": etag}, 206, "hello", "bytes 0-4/13"},
		{"if-range mismatch", "/a.txt", map[string]string{"Range": "bytes=0-4", "If-Range": `"old"`}, 200, helloTxt, ""},
		{"big from disk", "/big.bin", map[string]string{"Range": "bytes=16-31"}, 206, "0123456789abcdef", "bytes 16-31/524288"},
		{"big suffix", "/big.bin", map[string]string{"Range": "bytes=-3"}, 206, "def", "bytes 524285-524287/524288"},
		{"head ignores range", "/a.txt", map[string]string{"Range": "bytes=0-4"}, 206, "hello", "bytes 0-4/13"},
	}
	_ = big
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, fsrv, "GET", tt.target, tt.hdr)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if got := rec.Header().Get("Content-Range"); got != tt.wantRange {
				t.Errorf("Content-Range = %q, want %q", got, tt.wantRange)
			}
			if tt.want != 416 && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
			if tt.want == 206 && rec.Header().Get("Content-Length") != fmt.Sprint(len(tt.wantBody)) {
				t.Errorf("Content-Length = %q", rec.Header().Get("Content-Length"))
			}
		})
	}
}

func TestMultiRange(t *testing.T) {
	fsrv, _ := newTestSite(t)
	for _, target := range []string{"/a.txt", "/big.bin"} {
		t.Run(target, func(t *testing.T) {
			full := do(t, fsrv, "GET", target, nil).Body.String()
			rec := do(t, fsrv, "GET", target, map[string]string{"Range": "bytes=0-1, 4-5,-2"})
			if rec.Code != 206 {
				t.Fatalf("status %d", rec.Code)
			}
			if got, want := rec.Header().Get("Content-Length"), fmt.Sprint(rec.Body.Len()); got != want {
				t.Errorf("Content-Length %s, body %s bytes", got, want)
			}
			mt, params, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
			if err != nil || mt != "multipart/byteranges" {
				t.Fatalf("Content-Type %q: %v", rec.Header().Get("Content-Type"), err)
			}
			mr := multipart.NewReader(rec.Body, params["boundary"])
			want := []string{full[0:2], full[4:6], full[len(full)-2:]}
			for i := 0; ; i++ {
				p, err := mr.NextPart()
				if err == io.EOF {
					if i != len(want) {
						t.Errorf("got %d parts, want %d", i, len(want))
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(p)
				if i >= len(want) || string(b) != want[i] {
					t.Errorf("part %d = %q", i, b)
				}
				if p.Header.Get("Content-Range") == "" {
					t.Errorf("part %d without Content-Range", i)
				}
			}
		})
	}
}

func TestCacheRevalidation(t *testing.T) {
	fsrv, dir := newTestSite(t)
	clock := &fixedClock{t: time.Now()}
	fsrv.now = clock.now
	if got := do(t, fsrv, "GET", "/a.txt", nil).Body.String(); got != helloTxt {
		t.Fatalf("first body %q", got)
	}
	p := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(p, []byte("changed content"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Within the re-check interval the cached copy may still be served...
	if got := do(t, fsrv, "GET", "/a.txt", nil).Body.String(); got != helloTxt {
		t.Fatalf("within interval: body %q", got)
	}
	// ...after it, the change is seen, with a new ETag.
	clock.t = clock.t.Add(2 * time.Second)
	rec := do(t, fsrv, "GET", "/a.txt", nil)
	if rec.Body.String() != "changed content" || rec.Header().Get("Content-Length") != "15" {
		t.Fatalf("after interval: body %q, length %s", rec.Body.String(), rec.Header().Get("Content-Length"))
	}
	// Deleted files disappear, new files appear.
	os.Remove(p)
	writeFiles(t, dir, map[string]string{"new.txt": "new"})
	clock.t = clock.t.Add(2 * time.Second)
	if rec := do(t, fsrv, "GET", "/a.txt", nil); rec.Code != 404 {
		t.Errorf("deleted file: status %d", rec.Code)
	}
	if rec := do(t, fsrv, "GET", "/new.txt", nil); rec.Body.String() != "new" {
		t.Errorf("new file: %d %q", rec.Code, rec.Body.String())
	}
	// An index file created later is found once the directory is re-checked.
	writeFiles(t, dir, map[string]string{"noindex/index.html": "late index"})
	clock.t = clock.t.Add(2 * time.Second)
	if rec := do(t, fsrv, "GET", "/noindex/", nil); rec.Body.String() != "late index" {
		t.Errorf("late index: %d %q", rec.Code, rec.Body.String())
	}
}

func TestBigFileChangedUnderCache(t *testing.T) {
	fsrv, dir := newTestSite(t)
	do(t, fsrv, "GET", "/big.bin", nil)
	// Streamed files are checked against the open descriptor on every request.
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), []byte(strings.Repeat("z", 70000)), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := do(t, fsrv, "GET", "/big.bin", nil)
	if rec.Body.Len() != 70000 || rec.Header().Get("Content-Length") != "70000" {
		t.Fatalf("body %d bytes, Content-Length %s", rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

func TestIndexFilesAndRoot(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"home.htm": "custom index", "index.html": "default"})
	fsrv := newFileServer(&httpserver.Site{Root: dir, IndexFiles: []string{"missing.html", "home.htm"}})
	if rec := do(t, fsrv, "GET", "/", nil); rec.Body.String() != "custom index" {
		t.Errorf("custom index: %d %q", rec.Code, rec.Body.String())
	}
	// A relative root is relative to the working directory.
	t.Chdir(filepath.Dir(dir))
	fsrv = newFileServer(&httpserver.Site{Root: filepath.Base(dir)})
	if rec := do(t, fsrv, "GET", "/", nil); rec.Body.String() != "default" {
		t.Errorf("relative root: %d %q", rec.Code, rec.Body.String())
	}
}

func TestMissingRoot(t *testing.T) {
	dir := t.TempDir()
	fsrv := newFileServer(&httpserver.Site{Root: filepath.Join(dir, "nope")})
	if err := fsrv.Provision(t.Context(), nil); err != nil {
		t.Errorf("Provision with a missing root: %v", err)
	}
	if rec := do(t, fsrv, "GET", "/", nil); rec.Code != 404 {
		t.Errorf("status %d, want 404", rec.Code)
	}
	if err := fsrv.Close(); err != nil {
		t.Error(err)
	}
	// The root appears later: it is picked up at the next check.
	clock := &fixedClock{t: time.Now()}
	fsrv.now = clock.now
	writeFiles(t, dir, map[string]string{"nope/index.html": "now here"})
	clock.t = clock.t.Add(2 * time.Second)
	if rec := do(t, fsrv, "GET", "/", nil); rec.Body.String() != "now here" {
		t.Errorf("root created later: %d %q", rec.Code, rec.Body.String())
	}
	// A root that is a file is a configuration error.
	fsrv = newFileServer(&httpserver.Site{Root: filepath.Join(dir, "nope/index.html")})
	if err := fsrv.Provision(t.Context(), nil); err == nil {
		t.Error("Provision with a file as root: no error")
	}
}

func TestRootSwap(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"v1/a.txt": "one", "v2/a.txt": "two"})
	link := filepath.Join(dir, "current")
	if err := os.Symlink("v1", link); err != nil {
		t.Fatal(err)
	}
	clock := &fixedClock{t: time.Now()}
	fsrv := newFileServer(&httpserver.Site{Root: link})
	fsrv.now = clock.now
	if got := do(t, fsrv, "GET", "/a.txt", nil).Body.String(); got != "one" {
		t.Fatalf("before swap: %q", got)
	}
	tmp := filepath.Join(dir, "tmp-link")
	if err := os.Symlink("v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(2 * time.Second)
	if got := do(t, fsrv, "GET", "/a.txt", nil).Body.String(); got != "two" {
		t.Fatalf("after swap: %q", got)
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"not exist", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, 404},
		{"permission", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, 403},
		{"not a directory", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOTDIR}, 404},
		{"loop", &fs.PathError{Op: "open", Path: "x", Err: syscall.ELOOP}, 404},
		{"too many files", &fs.PathError{Op: "open", Path: "x", Err: syscall.EMFILE}, 503},
		{"io error", &fs.PathError{Op: "read", Path: "x", Err: syscall.EIO}, 503},
		{"escape", &fs.PathError{Op: "open", Path: "x", Err: errors.New("path escapes from parent")}, 404},
	}
	for _, tt := range tests {
		if got := statusFor(tt.err); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	rec := do(t, httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return (&FileServer{}).fail(w, &fs.PathError{Op: "open", Path: "x", Err: syscall.EMFILE})
	}), "GET", "/", nil)
	if ra := rec.Header().Get("Retry-After"); rec.Code != 503 || (ra != "3" && ra != "4" && ra != "5") {
		t.Errorf("503: status %d Retry-After %q", rec.Code, ra)
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, name string
		slash    bool
		ok       bool
	}{
		{"/", ".", true, true},
		{"", ".", true, true},
		{"/a/b.txt", "a/b.txt", false, true},
		{"/a/", "a", true, true},
		{"/a/../../b", "b", false, true},
		{"/a//b/./c/", "a/b/c", true, true},
		{"/a\\b", "", false, false},
		{"/a\x00b", "", false, false},
		{"/\xc0\xae\xc0\xae/x", "", false, false},
		{"/ü", "ü", false, true},
	}
	for _, tt := range tests {
		name, slash, ok := cleanName(tt.in)
		if name != tt.name || slash != tt.slash || ok != tt.ok {
			t.Errorf("cleanName(%q) = %q, %v, %v; want %q, %v, %v", tt.in, name, slash, ok, tt.name, tt.slash, tt.ok)
		}
	}
}

func TestRedirectTargets(t *testing.T) {
	fsrv, _ := newTestSite(t)
	tests := []struct {
		name, sitePath, orig, path, want string
	}{
		{"plain", "", "/sub?a=b", "/sub", "/sub/?a=b"},
		{"site base path trimmed by the server", "/app", "/app/sub?q=1", "/sub", "/app/sub/?q=1"},
		{"rewritten", "", "/old", "/sub", "/sub/"},
		{"rewritten under base path", "/app", "/app/old", "/sub", "/app/sub/"},
		{"file slash under base path", "/app", "/app/a.txt/", "/a.txt/", "/app/a.txt"},
		{"double slash cannot become protocol-relative", "", "//sub", "//sub", "/sub/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.orig, nil)
			info := &httpserver.RequestInfo{Site: &httpserver.Site{}, OriginalURL: req.URL}
			info.Site.Addr.Path = tt.sitePath
			req = httpserver.WithRequestInfo(req, info)
			u := *req.URL
			u.Path = tt.path
			req.URL = &u
			rec := httptest.NewRecorder()
			adapt(fsrv).ServeHTTP(rec, req)
			if rec.Code != 307 || rec.Header().Get("Location") != tt.want {
				t.Errorf("status %d Location %q, want 307 %q", rec.Code, rec.Header().Get("Location"), tt.want)
			}
		})
	}
}

func TestRangeOnPrecompressed(t *testing.T) {
	fsrv, _ := newTestSite(t)
	rec := do(t, fsrv, "GET", "/style.css", map[string]string{"Accept-Encoding": "zstd", "Range": "bytes=1-2"})
	if rec.Code != 206 || rec.Body.String() != "ST" || rec.Header().Get("Content-Encoding") != "zstd" {
		t.Errorf("range of the zstd file: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	rec = do(t, fsrv, "GET", "/style.css", map[string]string{"Accept-Encoding": "zstd", "Range": "bytes=50-"})
	if rec.Code != 416 || rec.Header().Get("Content-Encoding") != "" || rec.Header().Get("Content-Range") != "bytes */4" {
		t.Errorf("416: %d %v", rec.Code, rec.Header())
	}
}

func TestHiddenFilesAndPermissions(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"private/key.pem": "k", "conf/site.conf": "c", "ok.txt": "ok", "locked.txt": "l"})
	site := &httpserver.Site{Root: dir, HiddenFiles: []string{filepath.Join(dir, "private"), filepath.Join(dir, "conf/site.conf")}}
	if err := os.Symlink("conf/site.conf", filepath.Join(dir, "alias.conf")); err != nil {
		t.Fatal(err)
	}
	fsrv := newFileServer(site)
	for target, want := range map[string]int{
		"/private/key.pem": 404, "/conf/site.conf": 404, "/alias.conf": 404, "/CONF/../conf/site.conf": 404, "/ok.txt": 200,
	} {
		if rec := do(t, fsrv, "GET", target, nil); rec.Code != want {
			t.Errorf("%s: status %d, want %d", target, rec.Code, want)
		}
	}
	if os.Geteuid() != 0 { // root reads every file whatever its mode
		os.Chmod(filepath.Join(dir, "locked.txt"), 0)
		if rec := do(t, fsrv, "GET", "/locked.txt", nil); rec.Code != 403 {
			t.Errorf("unreadable file: status %d, want 403", rec.Code)
		}
	}
}

func TestConcurrentServe(t *testing.T) {
	fsrv, dir := newTestSite(t)
	fsrv.cache.recheck = 0 // re-validate on every request to stress the cache updates
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			os.WriteFile(filepath.Join(dir, "a.txt"), []byte(strings.Repeat("v", i%7+1)), 0o644)
		}
	}()
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	errs := make(chan string, 64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				for _, target := range []string{"/a.txt", "/style.css", "/", "/big.bin"} {
					rec := do(t, fsrv, "GET", target, map[string]string{"Accept-Encoding": "br"})
					if rec.Code == 200 && rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
						errs <- target + ": Content-Length " + rec.Header().Get("Content-Length") + " for " + strconv.Itoa(rec.Body.Len()) + " bytes"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	<-done
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
