// Package accesslog implements the `log` directive: one line per request, in the common, combined or a
// custom placeholder format, written to a rotated file, stdout, stderr or syslog.
//
// It also provides the shared log destinations (OpenDestination, Rotation) that the `errors` directive
// uses for its error log.
package accesslog

import (
	"fmt"
	"net"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// DefaultFile is the destination of a bare `log`.
const DefaultFile = "access.log"

// Config is one parsed `log` directive.
type Config struct {
	Path     string // base path of the requests to log
	Dest     string // file path, "stdout", "stderr" or a syslog destination
	Format   string // the format as written, {common}/{combined} not yet expanded
	Rotation Rotation
	IPMask   *IPMask  // nil when ipmask is not used
	Except   []string // base paths not logged
}

// Setup parses
//
//	log [path] [dest] [format] {
//		rotate_size MB; rotate_age days; rotate_keep n; rotate_compress; rotate_disable
//		ipmask v4mask [v6mask]
//		except paths...
//	}
//
// One argument is the destination; two are path and destination; three add the format.
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
	cfg := Config{Path: "/", Dest: DefaultFile, Format: "{common}", Rotation: DefaultRotation()}
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		cfg.Dest = args[0]
	case 2, 3:
		cfg.Path, cfg.Dest = args[0], args[1]
		if len(args) == 3 {
			cfg.Format = args[2]
		}
	default:
		return cfg, d.Errf("expected at most 3 arguments ([path] [destination] [format]), got %d", len(args))
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return cfg, d.Errf("path %q must start with / (usage: log [path] [destination] [format])", cfg.Path)
	}
	if err := ValidateDestination(cfg.Dest); err != nil {
		return cfg, d.Errf("%v", err)
	}
	if strings.TrimSpace(cfg.Format) == "" {
		return cfg, d.Errf("empty format")
	}
	for d.NextBlock(0) {
		if ok, err := cfg.Rotation.ParseSubdirective(d); ok {
			if err != nil {
				return cfg, err
			}
			continue
		}
		switch sub := d.Val(); sub {
		case "ipmask":
			vals := d.RemainingArgs()
			if len(vals) < 1 || len(vals) > 2 {
				return cfg, d.Errf("ipmask: expected an IPv4 mask and optionally an IPv6 mask, e.g. `ipmask 255.255.255.0 ffff:ffff:ffff::`")
			}
			m, err := parseMasks(vals)
			if err != nil {
				return cfg, d.Errf("ipmask: %v", err)
			}
			cfg.IPMask = m
		case "except":
			vals := d.RemainingArgs()
			if len(vals) == 0 {
				return cfg, d.Errf("except: expected one or more paths")
			}
			for _, p := range vals {
				if !strings.HasPrefix(p, "/") {
					return cfg, d.Errf("except: path %q must start with /", p)
				}
			}
			cfg.Except = append(cfg.Except, vals...)
		default:
			return cfg, d.Errf("unknown subdirective %q (expected rotate_size, rotate_age, rotate_keep, rotate_compress, rotate_disable, ipmask or except)", sub)
		}
	}
	return cfg, nil
}

func parseMasks(vals []string) (*IPMask, error) {
	var m IPMask
	if vals[0] != "" { // "" leaves IPv4 addresses whole: `ipmask "" ffff:ffff::`
		ip4 := net.ParseIP(vals[0]).To4()
		if ip4 == nil {
			return nil, fmt.Errorf("%q is not an IPv4 mask", vals[0])
		}
		m.V4 = net.IPMask(ip4)
	}
	if len(vals) == 2 {
		ip6 := net.ParseIP(vals[1])
		if ip6 == nil || ip6.To4() != nil {
			return nil, fmt.Errorf("%q is not an IPv6 mask", vals[1])
		}
		m.V6 = net.IPMask(ip6)
	}
	return &m, nil
}
