package fileserver

import (
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/casketserver/casket/httpserver"
)

// TryFilesConfig is the configuration of one `tryfiles` directive.
type TryFilesConfig struct {
	Paths   []string // candidates, with placeholders; empty means {path} then the index files
	Except  []string // base paths left alone
	Without string   // prefix stripped from each candidate before looking it up
}

// TryFiles is the `tryfiles` middleware: it rewrites the request to the first candidate that exists
// under the root (a candidate ending in "/" must be a directory, any other a regular file). When none
// exists, the request goes on unchanged.
type TryFiles struct {
	Next   httpserver.Handler
	Config TryFilesConfig

	paths []string // Config.Paths with the default applied
	root  *siteRoot
}

func newTryFiles(cfg TryFilesConfig, s *httpserver.Site, next httpserver.Handler) *TryFiles {
	t := &TryFiles{Next: next, Config: cfg, paths: cfg.Paths, root: newSiteRoot(s)}
	if len(t.paths) == 0 {
		t.paths = append([]string{"{path}"}, s.Indexes()...)
	}
	return t
}

// ServeHTTP tries the candidates in order and calls the next handler with the first that exists.
func (t *TryFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	var rp *httpserver.Replacer
	replace := func(s string) string {
		if !strings.Contains(s, "{") {
			return s
		}
		if rp == nil {
			rp = httpserver.NewReplacer(r, "")
		}
		return rp.Replace(s)
	}
	for _, ex := range t.Config.Except {
		if httpserver.PathMatches(r.URL.Path, replace(ex)) {
			return t.Next.ServeHTTP(w, r)
		}
	}
	h := t.root.get(time.Now().UnixNano())
	if h.err != nil {
		return t.Next.ServeHTTP(w, r)
	}
	for _, cand := range t.paths {
		target := replace(cand)
		p, query, hasQuery := strings.Cut(target, "?")
		dir := strings.HasSuffix(p, "/")
		if t.Config.Without != "" {
			p = strings.TrimPrefix(p, t.Config.Without)
		}
		p = path.Clean("/" + p)
		if dir && p != "/" {
			p += "/"
		}
		name, _, ok := cleanName(p)
		if !ok || !h.exists(name, dir) {
			continue
		}
		return t.Next.ServeHTTP(w, withPath(r, p, query, hasQuery))
	}
	return t.Next.ServeHTTP(w, r)
}

// Close releases the root directory.
func (t *TryFiles) Close() error { return t.root.close() }
