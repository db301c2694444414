// Package httpserver turns parsed Casketfile server blocks into sites, groups the sites onto listeners and
// serves them. Directives live in sub-packages; this package holds the shared types they build on.
//
// The life of a configuration:
//
//   - Build (build.go) parses each label with ParseAddressPorts (address.go), fills in the -host default,
//     runs every directive's SetupFunc in the order of Options.Directives (the middleware order) and
//     compiles each Site's chain around Options.Final. Sites without a port get one from the
//     Options.AssignPort hook (automatic HTTPS moves qualifying sites to the HTTPS port there) or
//     Options.Port. Build then rejects duplicate addresses; with Options.AutoHTTPS it marks the sites
//     that serve TLS (ServesTLS; a placeholder TLSConfig the caller replaces with its certificate
//     manager's before Start), checks that sites sharing a TLS server name on one listener agree on
//     their tls settings, and adds the HTTP→HTTPS redirect sites (https.go, redirect.go). Last it
//     groups the sites by listen address (bind host and port; listeners.go). It is pure, so
//     `casket -validate` runs only Build.
//   - Instance.Start provisions handlers (Provisioner), takes one socket per listen address from a
//     ListenerPool (pool.go) and runs one http.Server per address (server.go). A listener serves TLS
//     when its sites carry a Site.TLSConfig, chosen per SNI; HTTP/2 is offered by ALPN unless disabled.
//   - Every request goes through server.ServeHTTP: `Server: Casket`, the Options.Intercept hook (ACME
//     HTTP-01), virtual-host lookup (vhost.go: exact host, left-most wildcards, catch-alls, then the
//     longest base path, which is trimmed from the path), the SNI check of sites with client
//     authentication (403 when Host differs from the TLS server name), one RequestInfo and ResponseRecorder, the
//     site's chain, then the error boundary (a returned error becomes its status if nothing was
//     written) and panic recovery (500). No match is 404, or 421 on HTTP/2.
//   - A reload builds and starts the new Instance on the same pool before stopping the old one. Both
//     take connections from the same socket for a moment; the old one stops taking them and drains
//     (drain.go: HTTP/1 connections answer their request with "Connection: close", then HTTP/2 gets
//     GOAWAY through http.Server.Shutdown) and gives the socket back. No request is dropped.
//   - Instance.Stop drains until its context ends, closes io.Closer handlers and releases the sockets;
//     the pool closes a socket when its last holder is gone. Hijacked connections (WebSockets) are not
//     waited for.
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
