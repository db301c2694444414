// Package mime implements the `mime` directive: force the Content-Type of responses by the extension of
// the request path.
package mime

import (
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Config maps extensions to media types.
type Config struct {
	Types    map[string]string // lower-case ".ext" → media type
	Defaults bool              // `ext_defaults`: also use the built-in table (DefaultType)
}

// Setup parses `mime .ext type`, `mime ext_defaults` and the block form with one `.ext type` or
// `ext_defaults` per line.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	cfg, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return &Mime{Next: next, Config: cfg}
	}, nil
}

func parse(d *casketfile.Dispenser) (Config, error) {
	cfg := Config{Types: map[string]string{}}
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) > 0 {
			if err := parseLine(d, &cfg, args); err != nil {
				return cfg, err
			}
		}
		n := 0
		for d.NextBlock(0) {
			n++
			if err := parseLine(d, &cfg, append([]string{d.Val()}, d.RemainingArgs()...)); err != nil {
				return cfg, err
			}
		}
		if len(args) == 0 && n == 0 {
			return cfg, d.Errf("expected `mime .ext type`, `mime ext_defaults` or a block of `.ext type` lines")
		}
	}
	return cfg, nil
}

func parseLine(d *casketfile.Dispenser, cfg *Config, args []string) error {
	if args[0] == "ext_defaults" {
		if len(args) != 1 {
			return d.Errf("ext_defaults takes no arguments")
		}
		cfg.Defaults = true
		return nil
	}
	if len(args) != 2 {
		return d.Errf("expected `.ext type`, got %d arguments", len(args))
	}
	ext, typ := args[0], args[1]
	if len(ext) < 2 || ext[0] != '.' || strings.ContainsAny(ext[1:], "./") {
		return d.Errf("invalid extension %q: write it with its dot, like .swf", ext)
	}
	if !strings.Contains(typ, "/") || strings.ContainsAny(typ, "\r\n") {
		return d.Errf("invalid media type %q for %s: write type/subtype, like application/pdf", typ, ext)
	}
	key := strings.ToLower(ext)
	if _, dup := cfg.Types[key]; dup {
		return d.Errf("duplicate extension %q", ext)
	}
	cfg.Types[key] = typ
	return nil
}
