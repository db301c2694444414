package httpserver

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// RequestInfo is per-request state shared by the server and the directives: the site that matched, the
// URL as the client sent it, the start time, the recorder and named values for placeholders.
type RequestInfo struct {
	Site        *Site
	OriginalURL *url.URL // the request URL before any rewrite or base-path trimming
	Start       time.Time
	Recorder    *ResponseRecorder // nil outside the server

	mu   sync.Mutex
	vars map[string]string
}

type requestInfoKey struct{}

// WithRequestInfo returns r with info attached to its context.
func WithRequestInfo(r *http.Request, info *RequestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
}

// InfoFrom returns the RequestInfo of r. Outside the server (in unit tests) it returns a fresh one built
// from r, so callers never get nil.
func InfoFrom(r *http.Request) *RequestInfo {
	if info, ok := r.Context().Value(requestInfoKey{}).(*RequestInfo); ok {
		return info
	}
	u := *r.URL
	return &RequestInfo{OriginalURL: &u, Start: time.Now()}
}

// SetVar stores a named value, such as "request_id", "user" or "upstream", readable as a {name} placeholder.
func (ri *RequestInfo) SetVar(name, value string) {
	ri.mu.Lock()
	if ri.vars == nil {
		ri.vars = make(map[string]string)
	}
	ri.vars[name] = value
	ri.mu.Unlock()
}

// Var returns a value stored with SetVar.
func (ri *RequestInfo) Var(name string) (string, bool) {
	ri.mu.Lock()
	v, ok := ri.vars[name]
	ri.mu.Unlock()
	return v, ok
}
