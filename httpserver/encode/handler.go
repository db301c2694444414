package encode

import (
	"net/http"
	"path"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// Handler compresses responses for clients that accept zstd, br or gzip.
//
// Requests are left alone when their path is excluded (`not`) or its extension is not listed (`ext`),
// for HEAD, Range and Upgrade requests, and when the client accepts none of the codings. Responses are
// left alone when they are informational, 204, 206 or 304, already have a Content-Encoding, say
// Cache-Control: no-transform, have a type that is already compressed (images, video, archives...), or
// are shorter than min_length. Vary: Accept-Encoding is added to every response of a covered path.
type Handler struct {
	Next   httpserver.Handler
	Config Config

	pools *pools
}

// New returns a handler for cfg.
func New(next httpserver.Handler, cfg Config) *Handler {
	if cfg.Level == 0 {
		cfg.Level = DefaultLevel
	}
	return &Handler{Next: next, Config: cfg, pools: newPools(cfg.Level)}
}

// ServeHTTP wraps the response writer with a compressing one when the request qualifies.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if !h.covers(r.URL.Path) {
		return h.Next.ServeHTTP(w, r)
	}
	addVary(w.Header())
	if r.Method == http.MethodHead || r.Header.Get("Range") != "" || r.Header.Get("Upgrade") != "" {
		return h.Next.ServeHTTP(w, r)
	}
	coding := negotiate(strings.Join(r.Header.Values("Accept-Encoding"), ","))
	if coding == "" {
		return h.Next.ServeHTTP(w, r)
	}
	cw := &responseWriter{ResponseWriter: w, h: h, coding: coding}
	err := h.Next.ServeHTTP(cw, r)
	// A failure to finish the body means the client went away; there is nobody left to tell.
	_ = cw.Close()
	return err
}

// covers reports whether the path is compressed at all, by the `not` and `ext` settings.
func (h *Handler) covers(p string) bool {
	if len(h.Config.Not) > 0 {
		clean := path.Clean("/" + p)
		for _, not := range h.Config.Not {
			if httpserver.PathMatches(clean, not) {
				return false
			}
		}
	}
	if len(h.Config.Exts) == 0 {
		return true
	}
	ext := strings.ToLower(path.Ext(p))
	for _, e := range h.Config.Exts {
		if e == ext {
			return true
		}
	}
	return false
}

// addVary adds Accept-Encoding to the Vary header unless it is there already.
func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Encoding")
}

// incompressible reports whether a media type is already compressed, so compressing it again wastes CPU.
func incompressible(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "image/svg+xml" || mt == "image/bmp" || mt == "image/x-icon" || mt == "image/vnd.microsoft.icon" {
		return false
	}
	for _, prefix := range []string{"image/", "video/", "audio/", "font/woff"} {
		if strings.HasPrefix(mt, prefix) {
			return true
		}
	}
	switch mt {
	case "application/zip", "application/gzip", "application/x-gzip", "application/zstd", "application/x-bzip2",
		"application/x-xz", "application/x-7z-compressed", "application/x-rar-compressed", "application/vnd.rar",
		"application/x-brotli", "application/pdf", "application/ogg", "application/x-lz4",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation", "application/epub+zip",
		"application/java-archive", "application/x-compress", "application/x-compressed":
		return true
	}
	return false
}
