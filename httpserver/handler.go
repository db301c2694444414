// Package httpserver turns parsed Casketfile server blocks into sites, groups the sites onto listeners and
// serves them. Directives live in sub-packages; this package holds the shared types they build on.
package httpserver

import (
	"errors"
	"fmt"
	"net/http"
)

// Handler is like http.Handler but returns an error. An error that carries a status (see Error) makes the
// server's error boundary write that status, unless the handler already wrote a response.
type Handler interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Middleware wraps the next handler of a site's chain.
type Middleware func(next Handler) Handler

// HandlerError is an error with the HTTP status it should produce.
type HandlerError struct {
	Status int
	Err    error
}

// Error returns an error that makes the server answer with status. err may be nil.
func Error(status int, err error) error {
	return &HandlerError{Status: status, Err: err}
}

func (e *HandlerError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("http %d", e.Status)
	}
	return fmt.Sprintf("http %d: %v", e.Status, e.Err)
}

// Unwrap returns the underlying error.
func (e *HandlerError) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status an error returned by a Handler stands for: the status of a
// HandlerError in its chain, otherwise 500.
func StatusOf(err error) int {
	var he *HandlerError
	if errors.As(err, &he) && he.Status != 0 {
		return he.Status
	}
	return http.StatusInternalServerError
}
