package fileserver

import (
	"net/http"
	"path"
	"time"

	"github.com/casketserver/casket/httpserver"
)

// Ext is the `ext` middleware (clean URLs): for a request path without an extension that names no
// existing file, it tries the path plus each extension in order and serves the first regular file found.
type Ext struct {
	Next       httpserver.Handler
	Extensions []string

	root *siteRoot
}

// ServeHTTP rewrites the path to the first existing path+extension, if any, and calls the next handler.
func (e *Ext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Path
	if p == "" || p[len(p)-1] == '/' || path.Ext(p) != "" {
		return e.Next.ServeHTTP(w, r)
	}
	name, _, ok := cleanName(p)
	if !ok || name == "." {
		return e.Next.ServeHTTP(w, r)
	}
	h := e.root.get(time.Now().UnixNano())
	if h.err != nil {
		return e.Next.ServeHTTP(w, r)
	}
	if _, err := h.stat(name); err == nil {
		return e.Next.ServeHTTP(w, r)
	}
	for _, ext := range e.Extensions {
		if h.exists(name+ext, false) {
			return e.Next.ServeHTTP(w, withPath(r, "/"+name+ext, "", false))
		}
	}
	return e.Next.ServeHTTP(w, r)
}

// Close releases the root directory.
func (e *Ext) Close() error { return e.root.close() }
