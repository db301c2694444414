// Package internalpath implements the `internal` directive: paths hidden from clients (404) that later
// handlers can still serve through an `X-Accel-Redirect` response header. The package is not called
// "internal" because Go restricts importing such directories.
package internalpath

import (
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Setup parses `internal path` (one or more paths).
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	var paths []string
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return nil, d.Errf("missing path: use `internal /path`")
		}
		for _, p := range args {
			if !strings.HasPrefix(p, "/") {
				return nil, d.Errf("path %q must start with /", p)
			}
			paths = append(paths, p)
		}
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return &Internal{Next: next, Paths: paths}
	}, nil
}
