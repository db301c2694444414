package limits

import (
	"errors"
	"fmt"
	"net/http"
	"path"

	"github.com/casketserver/casket/httpserver"
)

// BodyRule caps the request body size for requests under a base path.
type BodyRule struct {
	Path  string // base path ("/" for all requests)
	Limit int64  // maximum body size in bytes
}

// Handler enforces body size limits. Requests whose declared Content-Length is over the limit are refused
// before the next handler runs; other bodies are wrapped so that reading past the limit fails, and a
// handler error caused by that is answered with 413 Request Entity Too Large.
type Handler struct {
	Next  httpserver.Handler
	Rules []BodyRule // most specific (longest) path first
}

// ServeHTTP applies the body limit of the most specific matching rule.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	limit := h.limitFor(r.URL.Path)
	if limit <= 0 || r.Body == nil || r.Body == http.NoBody {
		return h.Next.ServeHTTP(w, r)
	}
	if r.ContentLength > limit {
		return httpserver.Error(http.StatusRequestEntityTooLarge,
			fmt.Errorf("request body of %d bytes is over the limit of %d bytes", r.ContentLength, limit))
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := h.Next.ServeHTTP(w, r)
	var mbe *http.MaxBytesError
	if err != nil && errors.As(err, &mbe) {
		return httpserver.Error(http.StatusRequestEntityTooLarge, err)
	}
	return err
}

func (h *Handler) limitFor(p string) int64 {
	if len(h.Rules) == 0 {
		return 0
	}
	clean := cleanPath(p)
	for _, rule := range h.Rules {
		if httpserver.PathMatches(clean, rule.Path) {
			return rule.Limit
		}
	}
	return 0
}

// cleanPath resolves dot segments so "/public/../upload" is limited like "/upload"; a trailing slash is kept.
func cleanPath(p string) string {
	c := path.Clean("/" + p)
	if len(p) > 1 && p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}
