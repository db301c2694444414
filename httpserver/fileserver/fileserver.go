// Package fileserver serves static files from a site's root and implements the directives that shape
// it: root, index, browse, ext and tryfiles.
//
// Files are opened through os.Root: no request path can name a file outside the root, whether by "..",
// by encoded or backslashed variants, or by a symbolic link that resolves outside the root (links that
// stay inside are followed). Metadata, prepared headers and the content of small files are cached and
// re-validated at most once per second per file.
package fileserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/casketserver/casket/httpserver"
)

// FileServer is the terminal handler of a site: it serves the file the request path names under the
// site's root.
type FileServer struct {
	site  *httpserver.Site
	root  *siteRoot
	cache *metaCache
	now   func() time.Time
}

// New returns the static file handler for site s. It reads s.Root, s.Indexes() and s.HiddenFiles when
// it first serves, so it may be built before the configuration is final.
func New(s *httpserver.Site) httpserver.Handler {
	return newFileServer(s)
}

func newFileServer(s *httpserver.Site) *FileServer {
	fsrv := &FileServer{site: s, root: newSiteRoot(s), now: time.Now}
	fsrv.cache = newMetaCache(s.Indexes)
	return fsrv
}

// Provision opens the root directory now. A root that does not exist yet is not an error (requests get
// 404 until it appears, as in Casket); one that cannot be opened for another reason (not a directory,
// permission denied) is.
func (fsrv *FileServer) Provision(ctx context.Context, s *httpserver.Site) error {
	h := fsrv.root.get(fsrv.now().UnixNano())
	if h.err != nil && !errors.Is(h.err, fs.ErrNotExist) {
		return fmt.Errorf("opening site root %q: %w", h.path, h.err)
	}
	return nil
}

// Close releases the root directory.
func (fsrv *FileServer) Close() error { return fsrv.root.close() }

// ServeHTTP serves a file, a directory's index file, or an error: 405 for methods other than GET and
// HEAD, 404 for missing or hidden files, 403 when permission is denied and 503 for other errors.
func (fsrv *FileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return httpserver.Error(http.StatusMethodNotAllowed, nil)
	}
	name, slash, ok := cleanName(r.URL.Path)
	if !ok {
		return httpserver.Error(http.StatusNotFound, errors.New("invalid path"))
	}
	now := fsrv.now().UnixNano()
	h := fsrv.root.get(now)
	if h.err != nil {
		return fsrv.fail(w, h.err)
	}
	m, err := fsrv.cache.lookup(h, name, now)
	if err != nil {
		return fsrv.fail(w, err)
	}
	if m.hidden {
		return httpserver.Error(http.StatusNotFound, nil)
	}
	if m.isDir {
		if !slash {
			return redirect(w, r, true)
		}
		if m.index == "" {
			return httpserver.Error(http.StatusNotFound, nil)
		}
		if m, err = fsrv.cache.lookup(h, m.index, now); err != nil {
			return fsrv.fail(w, err)
		}
		if m.hidden || !m.regular {
			return httpserver.Error(http.StatusNotFound, nil)
		}
	} else if !m.regular {
		return httpserver.Error(http.StatusNotFound, nil)
	} else if slash {
		return redirect(w, r, false)
	}
	return fsrv.serveFile(w, r, m)
}

// fail turns a file system error into a status error, adding Retry-After to a 503.
func (fsrv *FileServer) fail(w http.ResponseWriter, err error) error {
	status := statusFor(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(3+rand.IntN(3)))
	}
	return httpserver.Error(status, err)
}

// redirect answers 307 with the request's path plus (add) or minus a trailing slash. The target is the
// path the client sent when the request was not rewritten, and otherwise the current path under the
// site's base path (which the server trims before the chain sees the request).
func redirect(w http.ResponseWriter, r *http.Request, add bool) error {
	info := httpserver.InfoFrom(r)
	p, rawQuery := r.URL.Path, r.URL.RawQuery
	if info.Site != nil && info.Site.Addr.Path != "" {
		p = strings.TrimSuffix(info.Site.Addr.Path, "/") + "/" + strings.TrimPrefix(p, "/")
	}
	if orig := info.OriginalURL; orig != nil && sameTarget(orig.Path, p) {
		p, rawQuery = orig.Path, orig.RawQuery
	}
	p = path.Clean("/" + p)
	if add && p != "/" {
		p += "/"
	}
	target := (&url.URL{Path: p}).EscapedPath()
	if strings.HasPrefix(target, "//") {
		target = "/" + strings.TrimLeft(target, "/")
	}
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return nil
}

// sameTarget reports whether two paths name the same resource ignoring a trailing slash, i.e. no
// rewrite happened in between.
func sameTarget(a, b string) bool {
	return strings.TrimSuffix(path.Clean("/"+a), "/") == strings.TrimSuffix(path.Clean("/"+b), "/")
}

// openFile opens m's file for streaming and checks it still matches m; when it changed, the returned
// meta describes the open file.
func (fsrv *FileServer) openFile(m *fileMeta) (*os.File, *fileMeta, error) {
	f, err := m.root.root.Open(m.name)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, os.ErrNotExist
	}
	if !sameFile(m, info) {
		nm := &fileMeta{name: m.name, root: m.root, ctype: m.ctype, encoding: m.encoding, hEncoding: m.hEncoding}
		nm.fill(info)
		nm.prepareHeaders() // the open file is streamed, whatever its size now
		m = nm
	}
	return f, m, nil
}

var _ httpserver.Provisioner = (*FileServer)(nil)
