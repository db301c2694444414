package errorpages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/accesslog"
)

// Handler handles the errors returned by the rest of the chain. When the response has not been started
// it writes the status with the custom page for it (or the `*` page, or a short plain-text body); it logs
// errors that carry a cause. Errors are handled here, so it returns nil for them. Panics below it are
// turned into 500 errors.
type Handler struct {
	Next   httpserver.Handler
	Config Config

	pages   map[int]*page // resolved at Provision
	generic *page

	mu  sync.RWMutex
	out io.WriteCloser // the error log; nil before Provision, after Close, and in visible mode
}

// New returns a handler for cfg. Page paths are resolved against the working directory until Provision
// resolves them against the site root.
func New(next httpserver.Handler, cfg Config) *Handler {
	h := &Handler{Next: next, Config: cfg}
	h.resolvePages("")
	return h
}

func (h *Handler) resolvePages(root string) {
	abs := func(p string) string {
		if filepath.IsAbs(p) || root == "" {
			return p
		}
		return filepath.Join(root, p)
	}
	h.pages = make(map[int]*page, len(h.Config.Pages))
	for code, p := range h.Config.Pages {
		h.pages[code] = &page{path: abs(p)}
	}
	h.generic = nil
	if h.Config.Generic != "" {
		h.generic = &page{path: abs(h.Config.Generic)}
	}
}

// SetOutput makes the handler write its error log to w (for tests and embedding). A destination opened
// before is released.
func (h *Handler) SetOutput(w io.WriteCloser) {
	h.mu.Lock()
	old := h.out
	h.out = w
	h.mu.Unlock()
	if old != nil && old != w {
		_ = old.Close()
	}
}

// Provision resolves page files against the site root and opens the error log.
func (h *Handler) Provision(_ context.Context, s *httpserver.Site) error {
	if s != nil {
		h.resolvePages(s.Root)
	}
	for code, p := range h.pages {
		if _, err := p.load(); err != nil {
			return fmt.Errorf("errors: page for status %d: %w", code, err)
		}
	}
	if h.generic != nil {
		if _, err := h.generic.load(); err != nil {
			return fmt.Errorf("errors: page for `*`: %w", err)
		}
	}
	if h.Config.Dest == Visible {
		return nil
	}
	w, err := accesslog.OpenDestination(h.Config.Dest, h.Config.Rotation)
	if err != nil {
		return fmt.Errorf("errors: %w", err)
	}
	h.SetOutput(w)
	return nil
}

// Close releases the error log.
func (h *Handler) Close() error {
	h.mu.Lock()
	w := h.out
	h.out = nil
	h.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.Close()
}

// ServeHTTP runs the rest of the chain and answers for the error it returns, if any.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rec := httpserver.NewResponseRecorder(w)
	err := h.serveNext(rec, r)
	if err == nil {
		return nil
	}
	status := httpserver.StatusOf(err)
	if h.Config.Dest == Visible {
		if !rec.Written() {
			writeVisible(w, status, err)
		}
		return nil
	}
	if worthLogging(err) {
		h.log(r, status, err)
	}
	if rec.Written() {
		return nil // too late to change the response; the error is logged
	}
	h.writePage(w, r, status)
	return nil
}

// serveNext calls the next handler, turning a panic into an error (http.ErrAbortHandler is re-raised,
// since it asks the server to drop the connection).
func (h *Handler) serveNext(w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err = httpserver.Error(http.StatusInternalServerError, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
		}
	}()
	return h.Next.ServeHTTP(w, r)
}

// worthLogging is false for what happens all day on a healthy site: bare statuses (a 401 challenge) and
// requests for files that do not exist.
func worthLogging(err error) bool {
	var he *httpserver.HandlerError
	if errors.As(err, &he) && he.Err == nil {
		return false
	}
	return !errors.Is(err, fs.ErrNotExist)
}

// log writes one entry: `time [ERROR status path] message`.
func (h *Handler) log(r *http.Request, status int, err error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.out == nil {
		return
	}
	path := strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(r.URL.Path)
	line := fmt.Sprintf("%s [ERROR %d %s] %v\n", time.Now().Format("02/Jan/2006:15:04:05 -0700"), status, path, err)
	_, _ = io.WriteString(h.out, line)
}

// writePage writes the custom page for status, or a short plain-text body when there is none.
func (h *Handler) writePage(w http.ResponseWriter, r *http.Request, status int) {
	hdr := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "ETag", "Last-Modified", "Content-Range"} {
		hdr.Del(k)
	}
	p := h.pages[status]
	if p == nil {
		p = h.generic
	}
	if p != nil {
		body, err := p.load()
		if err == nil {
			hdr.Set("Content-Type", p.contentType())
			hdr.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(status)
			_, _ = w.Write(body)
			return
		}
		h.log(r, status, fmt.Errorf("serving error page: %w", err))
	}
	body := strconv.Itoa(status) + " " + http.StatusText(status) + "\n"
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// writeVisible writes the error itself into the response (the `visible` mode, for development only).
func writeVisible(w http.ResponseWriter, status int, err error) {
	hdr := w.Header()
	hdr.Del("Content-Length")
	hdr.Del("Content-Encoding")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s\n\n%v\n", status, http.StatusText(status), err)
}
