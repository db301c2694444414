package accesslog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"sync"

	"github.com/casketserver/casket/httpserver"
)

// Handler writes one access log line per request, after the response is done. The destination is
// opened by Provision and released by Close.
type Handler struct {
	Next   httpserver.Handler
	Config Config

	segs []segment
	mu   sync.RWMutex
	out  io.WriteCloser // nil before Provision and after Close: nothing is logged
}

// New returns a handler logging with cfg; its format is compiled here, once.
func New(next httpserver.Handler, cfg Config) *Handler {
	return &Handler{Next: next, Config: cfg, segs: compile(cfg.Format)}
}

// SetOutput makes the handler write to w instead of opening its destination (for tests and embedding).
// A destination opened before is released.
func (h *Handler) SetOutput(w io.WriteCloser) {
	h.mu.Lock()
	old := h.out
	h.out = w
	h.mu.Unlock()
	if old != nil && old != w {
		_ = old.Close()
	}
}

// Provision opens the destination (shared with other handlers logging to the same place).
func (h *Handler) Provision(context.Context, *httpserver.Site) error {
	w, err := OpenDestination(h.Config.Dest, h.Config.Rotation)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	h.SetOutput(w)
	return nil
}

// Close releases the destination.
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

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP calls the next handler, then logs the request if its path is covered.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	p := cleanPath(r.URL.Path)
	if !httpserver.PathMatches(p, h.Config.Path) {
		return h.Next.ServeHTTP(w, r)
	}
	for _, ex := range h.Config.Except {
		if httpserver.PathMatches(p, ex) {
			return h.Next.ServeHTTP(w, r)
		}
	}
	info := httpserver.InfoFrom(r)
	if info.Recorder == nil { // outside the server: record the response ourselves
		info.Recorder = httpserver.NewResponseRecorder(w)
		w = info.Recorder
		r = httpserver.WithRequestInfo(r, info)
	}
	err := h.Next.ServeHTTP(w, r)

	rp := httpserver.NewReplacer(r, "-")
	if err != nil && !info.Recorder.Written() {
		// The server's error boundary writes this status after we return; log what the client gets.
		rp.Set("status", strconv.Itoa(httpserver.StatusOf(err)))
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	render(buf, h.segs, rp, h.Config.IPMask)
	h.mu.RLock()
	if h.out != nil {
		_, _ = h.out.Write(buf.Bytes()) // one write per line; a failing log must not fail the request
	}
	h.mu.RUnlock()
	if buf.Cap() <= 64<<10 {
		bufPool.Put(buf)
	}
	return err
}

// cleanPath resolves dot segments so matching sees the path that will be served.
func cleanPath(p string) string {
	c := path.Clean("/" + p)
	if len(p) > 1 && p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}
