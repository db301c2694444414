package fileserver

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// echoPath is a next handler that reports the path and query it was given.
var echoPath = httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	_, err := w.Write([]byte(r.URL.Path + "?" + r.URL.RawQuery))
	return err
})

func TestExt(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"contact.html": "c", "about.htm": "a", "both.htm": "htm", "both.html": "html", "exists": "plain",
		"docs/guide.html": "g", "dir.html": "file", "dir/": "", "v1.2.html": "dotted",
	})
	mw, err := SetupExt(testutil.Dispenser(t, "ext .html .htm"), &httpserver.Site{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(echoPath)
	tests := []struct{ target, want string }{
		{"/contact", "/contact.html?"},
		{"/about", "/about.htm?"},
		{"/both", "/both.html?"}, // first extension wins
		{"/exists", "/exists?"},  // existing file untouched
		{"/docs/guide?x=1", "/docs/guide.html?x=1"},
		{"/missing", "/missing?"},
		{"/dir", "/dir?"},           // an existing directory is left alone
		{"/contact/", "/contact/?"}, // trailing slash: not a file request
		{"/contact.txt", "/contact.txt?"},
		{"/v1.2", "/v1.2?"}, // has an extension already
		{"/", "/?"},
	}
	for _, tt := range tests {
		if got := do(t, h, "GET", tt.target, nil).Body.String(); got != tt.want {
			t.Errorf("%s → %q, want %q", tt.target, got, tt.want)
		}
	}
}

func TestTryFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"index.html": "spa", "app.js": "js", "assets/": "", "app/x.txt": "x", "index.php": "<?php",
	})
	tests := []struct {
		name, src, sitePath, target, want string
	}{
		{"existing file", "tryfiles", "", "/app.js", "/app.js?"},
		{"spa fallback", "tryfiles", "", "/users/42", "/index.html?"},
		{"root dir", "tryfiles", "", "/", "/?"},
		{"well-known excepted", "tryfiles", "", "/.well-known/acme-challenge/x", "/.well-known/acme-challenge/x?"},
		{"dir without slash falls back", "tryfiles", "", "/assets", "/index.html?"},
		{"dir candidate", "tryfiles {path}/ /index.html", "", "/assets", "/assets/?"},
		{"query candidate", "tryfiles {path} /index.php?{query}&p={path}", "", "/blog/post?a=1", "/index.php?a=1&p=/blog/post"},
		{"nothing exists: unchanged", "tryfiles {path} /nope.html", "", "/zzz?q", "/zzz?q"},
		{"except", "tryfiles {\n except /api\n}", "", "/api/users", "/api/users?"},
		{"without prefix", "tryfiles {path} /index.html {\n without /prefix\n}", "", "/prefix/app.js", "/app.js?"},
		{"subpath site default", "tryfiles", "/sub", "/sub/app.js", "/app.js?"},
		{"subpath site well-known", "tryfiles", "/sub", "/sub/.well-known/x", "/sub/.well-known/x?"},
		{"escape candidate ignored", "tryfiles {path} /../../etc/passwd /index.html", "", "/x", "/index.html?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &httpserver.Site{Root: dir}
			s.Addr.Path = tt.sitePath
			mw, err := SetupTryFiles(testutil.Dispenser(t, tt.src), s)
			if err != nil {
				t.Fatal(err)
			}
			if got := do(t, mw(echoPath), "GET", tt.target, nil).Body.String(); got != tt.want {
				t.Errorf("%s → %q, want %q", tt.target, got, tt.want)
			}
		})
	}
}

func browseSite(t *testing.T) (*httpserver.Site, string) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"files/b.txt": "bb", "files/a.txt": "aaaa", "files/c.bin": "c", "files/sub/": "",
		"files/<script>.txt": "x", "files/Casketfile": "hidden", "files/has index/index.html": "idx",
		"other/x.txt": "x",
	})
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "files/c.bin"), old, old)
	if err := os.Symlink("a.txt", filepath.Join(dir, "files/link.txt")); err != nil {
		t.Fatal(err)
	}
	return &httpserver.Site{Root: dir, HiddenFiles: []string{filepath.Join(dir, "files/Casketfile")}}, dir
}

func TestBrowseHTML(t *testing.T) {
	s, _ := browseSite(t)
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse /files"), s)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(New(s))
	rec := do(t, h, "GET", "/files/", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{`href="./a.txt"`, `href="./sub/"`, "&lt;script&gt;.txt", `href="./%3Cscript%3E.txt"`,
		"?sort=size&amp;order=asc", "4 B", `href="./has%20index/"`} {
		if !strings.Contains(body, want) {
			t.Errorf("listing lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>.txt", "Casketfile"} {
		if strings.Contains(body, bad) {
			t.Errorf("listing contains %q", bad)
		}
	}
	// Outside the base path, in a directory with an index, and without a trailing slash: not a listing.
	if rec := do(t, h, "GET", "/other/", nil); rec.Code != 404 {
		t.Errorf("/other/: status %d", rec.Code)
	}
	if rec := do(t, h, "GET", "/files/has%20index/", nil); rec.Body.String() != "idx" {
		t.Errorf("dir with index: %q", rec.Body.String())
	}
	if rec := do(t, h, "GET", "/files", nil); rec.Code != 307 {
		t.Errorf("/files: status %d", rec.Code)
	}
	if rec := do(t, h, "GET", "/files/a.txt", nil); rec.Body.String() != "aaaa" {
		t.Errorf("file under browse path: %q", rec.Body.String())
	}
	if rec := do(t, h, "HEAD", "/files/", nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestBrowseJSON(t *testing.T) {
	s, _ := browseSite(t)
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse"), s)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(New(s))
	list := func(query string) []FileInfo {
		t.Helper()
		rec := do(t, h, "GET", "/files/"+query, map[string]string{"Accept": "application/json"})
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		var items []FileInfo
		if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil {
			t.Fatal(err)
		}
		return items
	}
	names := func(items []FileInfo) string {
		var n []string
		for _, it := range items {
			n = append(n, it.Name)
		}
		return strings.Join(n, ",")
	}
	items := list("")
	if got := names(items); got != "<script>.txt,a.txt,b.txt,c.bin,has index,link.txt,sub" {
		t.Errorf("default order: %s", got)
	}
	for _, it := range items {
		switch it.Name {
		case "link.txt":
			if !it.IsSymlink || it.Size != 4 || it.URL != "./link.txt" {
				t.Errorf("symlink entry %+v", it)
			}
		case "sub":
			if !it.IsDir || it.URL != "./sub/" {
				t.Errorf("dir entry %+v", it)
			}
		}
	}
	if got := names(list("?sort=name&order=desc")); got != "sub,link.txt,has index,c.bin,b.txt,a.txt,<script>.txt" {
		t.Errorf("name desc: %s", got)
	}
	if got := names(list("?sort=size&limit=3")); !strings.HasPrefix(got, "has index,sub,") || len(strings.Split(got, ",")) != 3 {
		t.Errorf("size asc limit 3: %s", got)
	}
	if got := names(list("?sort=time&order=asc&limit=1")); got != "c.bin" {
		t.Errorf("time asc limit 1: %s", got)
	}
	// The raw JSON keeps Caddy v1's field names.
	rec := do(t, h, "GET", "/files/?limit=1", map[string]string{"Accept": "application/json"})
	for _, f := range []string{`"Name"`, `"Size"`, `"URL"`, `"ModTime"`, `"Mode"`, `"IsDir"`, `"IsSymlink"`} {
		if !strings.Contains(rec.Body.String(), f) {
			t.Errorf("JSON lacks %s: %s", f, rec.Body.String())
		}
	}
}

func TestBrowseCustomTemplate(t *testing.T) {
	s, dir := browseSite(t)
	tpl := filepath.Join(dir, "..", "tpl.html")
	if err := os.WriteFile(tpl, []byte(`{{.Path}}|{{range .Items}}<a href="{{html .URL}}">{{html .Name}}</a>{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse /files "+tpl), s)
	if err != nil {
		t.Fatal(err)
	}
	b := mw(New(s)).(*Browse)
	if err := b.Provision(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	rec := do(t, b, "GET", "/files/?sort=name&limit=2", nil)
	if want := `/files/|<a href="./%3Cscript%3E.txt">&lt;script&gt;.txt</a><a href="./a.txt">a.txt</a>`; rec.Body.String() != want {
		t.Errorf("body %q, want %q", rec.Body.String(), want)
	}

	bad := filepath.Join(dir, "..", "bad.html")
	os.WriteFile(bad, []byte("{{.Nope"), 0o644)
	mw, _ = SetupBrowse(testutil.Dispenser(t, "browse / "+bad), s)
	if err := mw(nil).(*Browse).Provision(t.Context(), s); err == nil || !strings.Contains(err.Error(), "parsing template") {
		t.Errorf("bad template: %v", err)
	}
	mw, _ = SetupBrowse(testutil.Dispenser(t, "browse / /nonexistent/tpl.html"), s)
	if err := mw(nil).(*Browse).Provision(t.Context(), s); err == nil {
		t.Error("missing template: no error")
	}
}

func TestListingHelpers(t *testing.T) {
	sizes := map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"}
	for n, want := range sizes {
		if got := (FileInfo{Size: n}).HumanSize(); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
	l := &Listing{Path: "/a/b/"}
	crumbs := l.Breadcrumbs()
	want := []Crumb{{"../../", "/"}, {"../", "a"}, {"./", "b"}}
	if len(crumbs) != len(want) {
		t.Fatalf("crumbs %v", crumbs)
	}
	for i := range want {
		if crumbs[i] != want[i] {
			t.Errorf("crumb %d = %v, want %v", i, crumbs[i], want[i])
		}
	}
}
