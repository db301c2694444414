// Package metrics implements the `prometheus` directive: it counts the requests of a site (by status code
// and method, with latency and response-size histograms) into the process's metrics registry
// (internal/metrics) and serves the registry on a separate metrics endpoint, by default
// http://localhost:9180/metrics.
package metrics

import (
	"net"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Defaults of the `prometheus` directive.
const (
	DefaultAddress = "localhost:9180"
	DefaultPath    = "/metrics"
)

// Config is one parsed `prometheus` directive.
type Config struct {
	Address    string // listen address of the metrics endpoint
	Path       string // path the metrics are served at
	Site       string // the `site` label; "" means the site's address
	UseSiteAdr bool   // serve Path on the site itself instead of a separate endpoint
}

// Setup parses
//
//	prometheus [address] {
//		address host:port
//		path /metrics
//		hostname label
//		use_casket_addr
//	}
//
// hostname sets the `site` label of the site's requests (default: the site address); use_casket_addr
// serves the metrics on the site's own listener at path instead of opening an endpoint.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	cfg, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler { return New(next, cfg) }, nil
}

func parse(d *casketfile.Dispenser) (Config, error) {
	d.Next() // directive name
	cfg := Config{Address: DefaultAddress, Path: DefaultPath}
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		cfg.Address = args[0]
	default:
		return cfg, d.Errf("expected at most one argument (the metrics address, e.g. localhost:9180), got %d", len(args))
	}
	addressGiven := len(args) == 1
	for d.NextBlock(0) {
		switch sub := d.Val(); sub {
		case "address", "path", "hostname":
			var v string
			if !d.AllArgs(&v) {
				return cfg, d.Errf("%s: expected exactly one value", sub)
			}
			switch sub {
			case "address":
				if addressGiven {
					return cfg, d.Errf("address given twice (as argument and in the block)")
				}
				cfg.Address = v
			case "path":
				if !strings.HasPrefix(v, "/") {
					return cfg, d.Errf("path %q must start with /", v)
				}
				cfg.Path = v
			case "hostname":
				cfg.Site = v
			}
		case "use_casket_addr":
			if d.NextArg() {
				return cfg, d.Errf("use_casket_addr takes no arguments")
			}
			cfg.UseSiteAdr = true
		default:
			return cfg, d.Errf("unknown subdirective %q (expected address, path, hostname or use_casket_addr)", sub)
		}
	}
	if _, port, err := net.SplitHostPort(cfg.Address); err != nil || port == "" {
		return cfg, d.Errf("address %q must be host:port, e.g. localhost:9180 or :9180", cfg.Address)
	}
	return cfg, nil
}
