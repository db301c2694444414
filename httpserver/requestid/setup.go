// Package requestid implements the `request_id` directive: a UUID per request, readable as the
// {request_id} placeholder.
package requestid

import (
	"net/http"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Setup parses `request_id [header_field]`.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	var trust string
	for d.Next() {
		args := d.RemainingArgs()
		switch len(args) {
		case 0:
		case 1:
			trust = http.CanonicalHeaderKey(args[0])
		default:
			return nil, d.Errf("expected at most one request header field to trust, got %d arguments", len(args))
		}
		if d.NextBlock(0) {
			return nil, d.Errf("request_id takes no block")
		}
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return &RequestID{Next: next, TrustHeader: trust}
	}, nil
}
