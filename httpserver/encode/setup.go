// Package encode implements the `gzip` directive: on-the-fly response compression with zstd, brotli or
// gzip, whichever the client prefers (by Accept-Encoding q-values; ties go to zstd, then br, then gzip).
package encode

import (
	"strconv"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// DefaultLevel is the compression level when `level` is not given.
const DefaultLevel = 6

// Config is one parsed `gzip` directive.
type Config struct {
	Exts      []string // request path extensions to compress (".html", "" for none); empty means all
	Not       []string // base paths never compressed
	Level     int      // 1 (fastest) to 9 (smallest); mapped onto each coding's scale
	MinLength int      // responses shorter than this many bytes are sent uncompressed
}

// Setup parses
//
//	gzip {
//		ext        .html .css ... | *
//		not        paths...
//		level      1-9
//		min_length bytes
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
	cfg := Config{Level: DefaultLevel}
	if d.NextArg() {
		return cfg, d.Errf("takes no arguments, only a block (ext, not, level, min_length)")
	}
	for d.NextBlock(0) {
		sub := d.Val()
		vals := d.RemainingArgs()
		switch sub {
		case "ext":
			if len(vals) == 0 {
				return cfg, d.Errf("ext: expected one or more extensions (like .html) or *")
			}
			for _, e := range vals {
				if e != "*" && e != "" && !strings.HasPrefix(e, ".") {
					return cfg, d.Errf("ext: %q must start with a dot (like .html), or be * (all) or \"\" (paths without extension)", e)
				}
				cfg.Exts = append(cfg.Exts, strings.ToLower(e))
			}
		case "not":
			if len(vals) == 0 {
				return cfg, d.Errf("not: expected one or more paths")
			}
			for _, p := range vals {
				if p == "/" {
					return cfg, d.Errf("not: excluding / disables compression entirely; remove the gzip directive instead")
				}
				if !strings.HasPrefix(p, "/") {
					return cfg, d.Errf("not: path %q must start with /", p)
				}
			}
			cfg.Not = append(cfg.Not, vals...)
		case "level":
			if len(vals) != 1 {
				return cfg, d.Errf("level: expected one number from 1 to 9")
			}
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 1 || n > 9 {
				return cfg, d.Errf("level: %q is not a number from 1 to 9", vals[0])
			}
			cfg.Level = n
		case "min_length":
			if len(vals) != 1 {
				return cfg, d.Errf("min_length: expected one number of bytes")
			}
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 0 {
				return cfg, d.Errf("min_length: %q is not a non-negative number of bytes", vals[0])
			}
			cfg.MinLength = n
		default:
			return cfg, d.Errf("unknown subdirective %q (expected ext, not, level or min_length)", sub)
		}
	}
	for _, e := range cfg.Exts {
		if e == "*" {
			cfg.Exts = nil // all extensions
			break
		}
	}
	return cfg, nil
}
