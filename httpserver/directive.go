package httpserver

import (
	"context"

	"github.com/casketserver/casket/casketfile"
)

// SetupFunc reads one directive segment; the Dispenser's cursor starts before the directive name, so the
// first d.Next() lands on it. It may set site-level fields (Root, Timeouts, TLS...) and/or return a
// Middleware; nil means the directive only sets configuration. It must have no side effects (no files
// opened, no goroutines): `casket -validate` runs only this step.
type SetupFunc func(d *casketfile.Dispenser, s *Site) (Middleware, error)

// Directive names a Casketfile directive and its setup function.
type Directive struct {
	Name  string
	Setup SetupFunc
}

// Provisioner is implemented by handlers that need resources (open log files, start health checks)
// once the configuration is accepted. It runs after every site has been set up, before serving.
type Provisioner interface {
	Provision(ctx context.Context, s *Site) error
}
