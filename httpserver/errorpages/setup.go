// Package errorpages implements the `errors` directive: an error log, custom pages for error statuses,
// and the `visible` mode that writes error details into the response (for development).
package errorpages

import (
	"strconv"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/accesslog"
)

// Visible is the destination that writes errors into the response instead of a log.
const Visible = "visible"

// Config is one parsed `errors` directive.
type Config struct {
	Dest     string         // "stderr" (default), "stdout", a file, a syslog destination, or "visible"
	Pages    map[int]string // status → page file (relative paths are relative to the site root)
	Generic  string         // the `*` page, for statuses without their own page
	Rotation accesslog.Rotation
}

// Setup parses
//
//	errors [dest] {
//		log  dest            (the same as the argument)
//		404  file
//		*    file
//		rotate_size MB; rotate_age days; rotate_keep n; rotate_compress; rotate_disable
//	}
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	cfg, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return New(next, cfg)
	}, nil
}

func parse(d *casketfile.Dispenser) (Config, error) {
	d.Next() // directive name
	cfg := Config{Dest: "stderr", Pages: map[int]string{}, Rotation: accesslog.DefaultRotation()}
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		cfg.Dest = args[0]
	default:
		return cfg, d.Errf("expected at most one argument (the error log destination or `visible`), got %d", len(args))
	}
	destSet := len(args) == 1
	for d.NextBlock(0) {
		if ok, err := cfg.Rotation.ParseSubdirective(d); ok {
			if err != nil {
				return cfg, err
			}
			continue
		}
		what := d.Val()
		var where string
		if !d.AllArgs(&where) {
			return cfg, d.Errf("%s: expected exactly one file (or destination for `log`)", what)
		}
		switch what {
		case "log":
			if destSet {
				return cfg, d.Errf("the error log destination is given twice")
			}
			cfg.Dest, destSet = where, true
		case "*":
			if cfg.Generic != "" {
				return cfg, d.Errf("duplicate entry for `*`")
			}
			cfg.Generic = where
		default:
			code, err := strconv.Atoi(what)
			if err != nil || code < 400 || code > 599 {
				return cfg, d.Errf("expected an error status code (400-599), `*`, `log` or a rotate_* option, got %q", what)
			}
			if _, dup := cfg.Pages[code]; dup {
				return cfg, d.Errf("duplicate page for status %d", code)
			}
			cfg.Pages[code] = where
		}
	}
	if cfg.Dest != Visible {
		if err := accesslog.ValidateDestination(cfg.Dest); err != nil {
			return cfg, d.Errf("%v", err)
		}
	}
	return cfg, nil
}
