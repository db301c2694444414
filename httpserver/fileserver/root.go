package fileserver

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/casketserver/casket/httpserver"
)

// rootCheckInterval is how often the root directory itself is re-checked: when the configured path now
// names another directory (a deploy that swaps a symlink), the root is opened again.
const rootCheckInterval = time.Second

// siteRoot gives access to the files under a site's root through os.Root, so that no name can reach a
// file outside the root: ".." cannot climb above it and symbolic links are followed only while they
// resolve inside it. The root is opened lazily, on first use, because setup functions must not touch the
// file system.
type siteRoot struct {
	site *httpserver.Site

	mu  sync.Mutex // serializes (re)opening
	cur atomic.Pointer[rootHandle]
}

// rootHandle is one opened root directory. It is immutable apart from checked.
type rootHandle struct {
	path    string // as configured
	abs     string // absolute, cleaned
	root    *os.Root
	info    os.FileInfo
	err     error
	hidden  []hiddenFile
	checked atomic.Int64 // unix nanoseconds of the last check
}

// hiddenFile is a file the server must never serve (the Casketfile, s.HiddenFiles).
type hiddenFile struct {
	abs  string      // absolute path
	info os.FileInfo // nil if it could not be stat'ed
}

func newSiteRoot(s *httpserver.Site) *siteRoot { return &siteRoot{site: s} }

// rootPath returns the configured root, "." when unset.
func (sr *siteRoot) rootPath() string {
	if sr.site == nil || sr.site.Root == "" {
		return "."
	}
	return sr.site.Root
}

// get returns the current root handle, re-checking the root directory at most once per
// rootCheckInterval. The handle's err is set when the root cannot be opened.
func (sr *siteRoot) get(now int64) *rootHandle {
	h := sr.cur.Load()
	if h != nil && now-h.checked.Load() < int64(rootCheckInterval) {
		return h
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	h = sr.cur.Load()
	if h != nil && now-h.checked.Load() < int64(rootCheckInterval) {
		return h
	}
	p := sr.rootPath()
	info, statErr := os.Stat(p)
	if h != nil && h.err == nil && statErr == nil && h.path == p && os.SameFile(info, h.info) {
		h.checked.Store(now)
		return h
	}
	nh := sr.open(p)
	nh.checked.Store(now)
	// The previous os.Root is not closed here: requests may still be using it. Its finalizer closes it.
	sr.cur.Store(nh)
	return nh
}

func (sr *siteRoot) open(p string) *rootHandle {
	h := &rootHandle{path: p}
	abs, err := filepath.Abs(p)
	if err != nil {
		h.err = err
		return h
	}
	h.abs = abs
	r, err := os.OpenRoot(p)
	if err != nil {
		h.err = err
		return h
	}
	info, err := r.Stat(".")
	if err != nil {
		r.Close()
		h.err = err
		return h
	}
	h.root, h.info = r, info
	h.hidden = sr.hiddenFiles()
	return h
}

// hiddenFiles collects the site's hidden files and its Casketfile, with their FileInfo so that another
// name for the same file (a link, a different case) is hidden too.
func (sr *siteRoot) hiddenFiles() []hiddenFile {
	if sr.site == nil {
		return nil
	}
	names := append([]string(nil), sr.site.HiddenFiles...)
	if sr.site.ConfigFile != "" {
		names = append(names, sr.site.ConfigFile)
	}
	var out []hiddenFile
	for _, n := range names {
		abs, err := filepath.Abs(n)
		if err != nil {
			continue
		}
		hf := hiddenFile{abs: abs}
		if info, err := os.Stat(abs); err == nil {
			hf.info = info
		}
		out = append(out, hf)
	}
	return out
}

// close closes the current root.
func (sr *siteRoot) close() error {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	h := sr.cur.Swap(nil)
	if h != nil && h.root != nil {
		return h.root.Close()
	}
	return nil
}

// isHidden reports whether name (slash-separated, relative to the root) with FileInfo info must not be
// served or listed.
func (h *rootHandle) isHidden(name string, info os.FileInfo) bool {
	if len(h.hidden) == 0 {
		return false
	}
	abs := filepath.Join(h.abs, filepath.FromSlash(name))
	for _, hf := range h.hidden {
		if abs == hf.abs || strings.HasPrefix(abs, hf.abs+string(filepath.Separator)) {
			return true
		}
		if hf.info != nil && info != nil && os.SameFile(info, hf.info) {
			return true
		}
	}
	return false
}

// stat returns the FileInfo of name (following links that stay inside the root).
func (h *rootHandle) stat(name string) (os.FileInfo, error) {
	if h.err != nil {
		return nil, h.err
	}
	return h.root.Stat(name)
}

// exists reports whether name exists and is a regular file (dir false) or a directory (dir true), and is
// not hidden.
func (h *rootHandle) exists(name string, dir bool) bool {
	info, err := h.stat(name)
	if err != nil || h.isHidden(name, info) {
		return false
	}
	if dir {
		return info.IsDir()
	}
	return info.Mode().IsRegular()
}

// statusFor maps an error from opening or stat'ing a file to an HTTP status: missing files, names that
// are not directories, symlink loops and links escaping the root are 404; permission errors 403; other
// system errors (too many open files, I/O errors) 503, as they are likely temporary.
func statusFor(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.EINVAL:
			return http.StatusNotFound
		}
		return http.StatusServiceUnavailable
	}
	// os.Root refuses names that escape the root with an error of its own.
	return http.StatusNotFound
}

// cleanName turns a request path into a name relative to the root ("." for the root itself). It
// reports whether the path ended with a slash, and ok=false for paths that can never name a file:
// those with NUL bytes, backslashes or invalid UTF-8 (which includes overlong encodings). A path that
// is already clean is not copied.
func cleanName(p string) (name string, slash bool, ok bool) {
	checkedUTF8 := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == 0 || c == '\\' {
			return "", false, false
		}
		if c >= 0x80 && !checkedUTF8 {
			if !utf8.ValidString(p[i:]) {
				return "", false, false
			}
			checkedUTF8 = true
		}
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	slash = p[len(p)-1] == '/'
	c := path.Clean(p)
	if c == "/" {
		return ".", slash, true
	}
	return c[1:], slash, true
}
