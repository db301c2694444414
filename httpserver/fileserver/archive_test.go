package fileserver

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// archiveSite builds a site whose /docs directory holds plain files, nested and empty directories,
// hidden files, and links inside and outside the root. It returns the site and the expected archive
// of /docs: entry names in order, with the contents of the files.
func archiveSite(t *testing.T) (*httpserver.Site, []archiveEntry) {
	t.Helper()
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	big := strings.Repeat("casket streams archives\n", 10000) // 240 KB: more than one pipe buffer
	writeFiles(t, dir, map[string]string{
		"outside.txt":                 "outside the root",
		"www/docs/a.txt":              "alpha",
		"www/docs/sub/b.txt":          "bravo",
		"www/docs/sub/deep/c.txt":     big,
		"www/docs/empty/":             "",
		"www/docs/Casketfile":         "secret config",
		"www/docs/private/x.txt":      "hidden dir",
		"www/docs/idx/index.html":     "idx",
		"www/docs/sp ace/é.txt":       "unicode",
		"www/other/not-included.txt":  "sibling",
		"www/docs/sub/deep/.dotfile":  "dot",
		"www/docs/sub/deep/zz/z.bin":  "\x00\x01\x02",
		"www/docs/sub/deep/zz/.keep/": "",
	})
	links := map[string]string{
		"www/docs/in-link.txt":      "a.txt",                                // inside: archived as a file
		"www/docs/out-link.txt":     "../../outside.txt",                    // relative, leaves the root
		"www/docs/abs-link.txt":     filepath.Join(dir, "outside.txt"),      // absolute, leaves the root
		"www/docs/dir-link":         "sub",                                  // directory: left out
		"www/docs/loop":             ".",                                    // would loop: left out
		"www/docs/hidden-alias.txt": "Casketfile",                           // another name of a hidden file
		"www/docs/dangling.txt":     "missing.txt",                          // dangling
		"www/docs/up-link":          filepath.Join(dir, "www", "..", "www"), // root itself through the outside
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	site := &httpserver.Site{
		Root:        www,
		ConfigFile:  filepath.Join(www, "docs", "Casketfile"),
		HiddenFiles: []string{filepath.Join(www, "docs", "private")},
	}
	want := []archiveEntry{
		{name: "docs/"},
		{name: "docs/a.txt", data: "alpha"},
		{name: "docs/empty/"},
		{name: "docs/idx/"},
		{name: "docs/idx/index.html", data: "idx"},
		{name: "docs/in-link.txt", data: "alpha"},
		{name: "docs/sp ace/"},
		{name: "docs/sp ace/é.txt", data: "unicode"},
		{name: "docs/sub/"},
		{name: "docs/sub/b.txt", data: "bravo"},
		{name: "docs/sub/deep/"},
		{name: "docs/sub/deep/.dotfile", data: "dot"},
		{name: "docs/sub/deep/c.txt", data: big},
		{name: "docs/sub/deep/zz/"},
		{name: "docs/sub/deep/zz/.keep/"},
		{name: "docs/sub/deep/zz/z.bin", data: "\x00\x01\x02"},
	}
	return site, want
}

// archiveEntry is one entry read back from an archive; directories end with "/".
type archiveEntry struct {
	name string
	data string
}

func (e archiveEntry) String() string { return fmt.Sprintf("%s (%d bytes)", e.name, len(e.data)) }

// readArchive reads an archive of the given format back with an independent reader where the
// standard library has one (zip, tar, gzip, bzip2).
func readArchive(t *testing.T, format string, body []byte) []archiveEntry {
	t.Helper()
	if format == "zip" {
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("zip: %v", err)
		}
		var out []archiveEntry
		for _, f := range zr.File {
			e := archiveEntry{name: f.Name}
			if !strings.HasSuffix(f.Name, "/") {
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatalf("zip %s: %v", f.Name, err)
				}
				e.data = string(data)
			}
			out = append(out, e)
		}
		return out
	}
	var r io.Reader = bytes.NewReader(body)
	var err error
	switch format {
	case "tar":
	case "tar.gz":
		r, err = gzip.NewReader(r)
	case "tar.xz":
		r, err = xz.NewReader(r)
	case "tar.br":
		r = brotli.NewReader(r)
	case "tar.bz2":
		r = bzip2.NewReader(r)
	case "tar.lz4":
		r = lz4.NewReader(r)
	case "tar.sz":
		r = s2.NewReader(r)
	case "tar.zst":
		var zr *zstd.Decoder
		zr, err = zstd.NewReader(r)
		r = zr
	default:
		t.Fatalf("no reader for %s", format)
	}
	if err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	tr := tar.NewReader(r)
	var out []archiveEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s %s: %v", format, h.Name, err)
		}
		if h.Uname != "" || h.Gname != "" || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: owner leaked: %q %q %d %d", h.Name, h.Uname, h.Gname, h.Uid, h.Gid)
		}
		out = append(out, archiveEntry{name: h.Name, data: string(data)})
	}
	if rest, _ := io.ReadAll(r); len(bytes.Trim(rest, "\x00")) != 0 {
		t.Errorf("%s: %d bytes after the tar end", format, len(rest))
	}
	return out
}

func TestBrowseArchiveEveryFormat(t *testing.T) {
	s, want := archiveSite(t)
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse /docs {\n servearchive\n buffer 4KB\n}"), s)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(New(s))
	for _, f := range archiveFormats {
		t.Run(f.name, func(t *testing.T) {
			rec := do(t, h, "GET", "/docs/?archive="+f.name, nil)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != f.mime {
				t.Errorf("Content-Type %q, want %q", got, f.mime)
			}
			if got, want := rec.Header().Get("Content-Disposition"), `attachment; filename="docs.`+f.name+`"`; got != want {
				t.Errorf("Content-Disposition %q, want %q", got, want)
			}
			if got := rec.Header().Get("Content-Encoding"); got != "" {
				t.Errorf("Content-Encoding %q", got)
			}
			if got, want := rec.Header().Get("Cache-Control"), map[bool]string{true: "", false: "no-transform"}[f.name == "tar"]; got != want {
				t.Errorf("Cache-Control %q, want %q", got, want)
			}
			got := readArchive(t, f.name, rec.Body.Bytes())
			if !reflect.DeepEqual(got, want) {
				t.Errorf("entries\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestBrowseArchiveRootAndHead(t *testing.T) {
	s, _ := archiveSite(t)
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse {\n servearchive tar\n}"), s)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(New(s))
	rec := do(t, h, "GET", "/?archive=tar", nil)
	if got := rec.Header().Get("Content-Disposition"); got != `attachment; filename="root.tar"` {
		t.Errorf("Content-Disposition %q", got)
	}
	var names []string
	for _, e := range readArchive(t, "tar", rec.Body.Bytes()) {
		names = append(names, e.name)
	}
	for _, must := range []string{"root/", "root/docs/a.txt", "root/other/not-included.txt"} {
		if !strings.Contains(strings.Join(names, "\n")+"\n", must+"\n") {
			t.Errorf("root archive lacks %s: %q", must, names)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "Casketfile") || strings.Contains(n, "private") || strings.Contains(n, "outside") {
			t.Errorf("root archive has %s", n)
		}
	}

	head := do(t, h, "HEAD", "/docs/?archive=tar", nil)
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Type") != "application/x-tar" {
		t.Errorf("HEAD: %d, %d bytes, %q", head.Code, head.Body.Len(), head.Header().Get("Content-Type"))
	}
	// A directory with an index file is not browsable: its index is served, not an archive.
	if rec := do(t, h, "GET", "/docs/idx/?archive=tar", nil); rec.Body.String() != "idx" {
		t.Errorf("dir with index: %q", rec.Body.String())
	}
	// A non-ASCII directory name gets an RFC 5987 filename too.
	rec = do(t, h, "GET", "/docs/sp%20ace/?archive=tar", nil)
	if got := rec.Header().Get("Content-Disposition"); got != `attachment; filename="sp ace.tar"` {
		t.Errorf("Content-Disposition %q", got)
	}
}

func TestAttachment(t *testing.T) {
	tests := []struct{ name, want string }{
		{"docs.zip", `attachment; filename="docs.zip"`},
		{`a"b.tar`, `attachment; filename="a_b.tar"; filename*=UTF-8''a%22b.tar`},
		{"é.tar.gz", `attachment; filename="_.tar.gz"; filename*=UTF-8''%C3%A9.tar.gz`},
	}
	for _, tt := range tests {
		if got := attachment(tt.name); got != tt.want {
			t.Errorf("attachment(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestBrowseArchiveRefused(t *testing.T) {
	s, _ := archiveSite(t)
	tests := []struct {
		name   string
		src    string
		target string
		want   int
	}{
		{name: "format not enabled", src: "browse {\n servearchive zip\n}", target: "/docs/?archive=tar.gz", want: 404},
		{name: "unknown format", src: "browse {\n servearchive\n}", target: "/docs/?archive=rar", want: 404},
		{name: "empty format", src: "browse {\n servearchive\n}", target: "/docs/?archive=", want: 404},
		{name: "servearchive off", src: "browse", target: "/docs/?archive=zip", want: 404},
		{name: "outside the browse path", src: "browse /docs {\n servearchive\n}", target: "/other/?archive=zip", want: 404},
		{name: "hidden directory", src: "browse {\n servearchive\n}", target: "/docs/private/?archive=zip", want: 404},
		{name: "enabled", src: "browse {\n servearchive zip\n}", target: "/docs/?archive=zip", want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := SetupBrowse(testutil.Dispenser(t, tt.src), s)
			if err != nil {
				t.Fatal(err)
			}
			rec := do(t, mw(New(s)), "GET", tt.target, nil)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
			if tt.want != 200 && rec.Header().Get("Content-Disposition") != "" {
				t.Error("refused request has a Content-Disposition")
			}
		})
	}
}

func TestBrowseListingArchiveLinks(t *testing.T) {
	s, _ := archiveSite(t)
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse {\n servearchive zip tar.gz\n}"), s)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(New(s))
	rec := do(t, h, "GET", "/docs/", nil)
	body := rec.Body.String()
	for _, want := range []string{`href="?archive=zip"`, `href="?archive=tar.gz"`, ">tar.gz</a>"} {
		if !strings.Contains(body, want) {
			t.Errorf("listing lacks %q", want)
		}
	}
	if strings.Contains(body, "archive=tar.xz") {
		t.Error("listing offers a format that is not enabled")
	}
	wantLinks := []string{
		`<?archive=zip>; rel="alternate"; type="application/zip"; title="zip"`,
		`<?archive=tar.gz>; rel="alternate"; type="application/gzip"; title="tar.gz"`,
	}
	if got := rec.Header().Values("Link"); !reflect.DeepEqual(got, wantLinks) {
		t.Errorf("Link %q, want %q", got, wantLinks)
	}

	// JSON keeps its shape (an array of entries) and carries the same Link headers.
	rec = do(t, h, "GET", "/docs/", map[string]string{"Accept": "application/json"})
	var items []FileInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil || len(items) == 0 {
		t.Fatalf("JSON listing: %v (%d items)", err, len(items))
	}
	if got := rec.Header().Values("Link"); !reflect.DeepEqual(got, wantLinks) {
		t.Errorf("JSON Link %q, want %q", got, wantLinks)
	}

	// Without servearchive: no links.
	mw, _ = SetupBrowse(testutil.Dispenser(t, "browse"), s)
	rec = do(t, mw(New(s)), "GET", "/docs/", nil)
	if strings.Contains(rec.Body.String(), "archive=") || len(rec.Header().Values("Link")) != 0 {
		t.Error("listing without servearchive offers archives")
	}
}

// A custom template sees .Archives.
func TestBrowseArchiveTemplate(t *testing.T) {
	s, _ := archiveSite(t)
	tpl := filepath.Join(t.TempDir(), "t.html")
	if err := os.WriteFile(tpl, []byte(`{{range .Archives}}[{{.Format}} {{.URL}}]{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse {\n tplfile "+tpl+"\n servearchive tar.zst zip\n}"), s)
	if err != nil {
		t.Fatal(err)
	}
	rec := do(t, mw(New(s)), "GET", "/docs/", nil)
	if got := rec.Body.String(); got != "[tar.zst ?archive=tar.zst][zip ?archive=zip]" {
		t.Errorf("template output %q", got)
	}
}

// A body that cannot be written (a client gone) ends the walk.
func TestBrowseArchiveWriteFailure(t *testing.T) {
	s, _ := archiveSite(t)
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse {\n servearchive tar\n buffer 4KB\n}"), s)
	if err != nil {
		t.Fatal(err)
	}
	b := mw(New(s)).(*Browse)
	var aborted error
	b.abortFn = func(err error) { aborted = err }
	w := &failingWriter{header: http.Header{}, limit: 8 << 10}
	req, _ := http.NewRequest("GET", "/docs/?archive=tar", nil)
	err = b.ServeHTTP(w, req)
	if err == nil || !strings.Contains(err.Error(), "sending archive") {
		t.Fatalf("err = %v", err)
	}
	if aborted == nil {
		t.Error("connection was not aborted")
	}
	if w.written > 8<<10 {
		t.Errorf("%d bytes written past the failure", w.written)
	}
}

type failingWriter struct {
	header  http.Header
	limit   int
	written int
}

func (w *failingWriter) Header() http.Header { return w.header }
func (w *failingWriter) WriteHeader(int)     {}
func (w *failingWriter) Write(p []byte) (int, error) {
	if w.written+len(p) > w.limit {
		return 0, io.ErrClosedPipe
	}
	w.written += len(p)
	return len(p), nil
}

// A file that shrank between stat and read fails a tar (its header announced more bytes); a zip
// records the bytes actually written.
func TestArchiveShrunkFile(t *testing.T) {
	info := fakeInfo{size: 10}
	for _, f := range []string{"tar", "tar.gz", "zip"} {
		format, _ := lookupArchiveFormat(f)
		aw, err := newArchiveWriter(format, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		err = aw.file("x/a.txt", info, strings.NewReader("short"))
		if f == "zip" {
			if err != nil {
				t.Errorf("zip: %v", err)
			}
		} else if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err = %v, want unexpected EOF", f, err)
		}
	}
}

type fakeInfo struct{ size int64 }

func (fi fakeInfo) Name() string       { return "a.txt" }
func (fi fakeInfo) Size() int64        { return fi.size }
func (fi fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (fi fakeInfo) ModTime() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
func (fi fakeInfo) IsDir() bool        { return false }
func (fi fakeInfo) Sys() any           { return nil }
