// Package limits implements the `limits` directive: caps on the request header size (a listener setting)
// and on request body sizes per base path (a middleware answering 413).
package limits

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Setup parses
//
//	limits size
//	limits {
//		header size
//		body   [path] size
//	}
//
// `limits size` caps both the header and every request body. The header cap goes to s.MaxHeaderBytes
// (the server uses the smallest cap of the sites sharing a listener); body caps become a middleware.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next() // directive name
	var rules []BodyRule
	seen := map[string]bool{}
	addBody := func(path string, n int64) error {
		if seen[path] {
			return d.Errf("duplicate body limit for path %q", path)
		}
		seen[path] = true
		rules = append(rules, BodyRule{Path: path, Limit: n})
		return nil
	}
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		n, err := parseArg(d, args[0])
		if err != nil {
			return nil, err
		}
		setHeader(s, n)
		_ = addBody("/", n)
	default:
		return nil, d.Errf("expected one size (e.g. `limits 10mb`) or a block, got %d arguments", len(args))
	}
	hadBlock := false
	for d.NextBlock(0) {
		hadBlock = true
		if len(args) > 0 {
			return nil, d.Errf("use either `limits %s` or a block, not both", args[0])
		}
		sub := d.Val()
		vals := d.RemainingArgs()
		switch sub {
		case "header":
			if len(vals) != 1 {
				return nil, d.Errf("header: expected one size, e.g. `header 100kb`")
			}
			n, err := parseArg(d, vals[0])
			if err != nil {
				return nil, err
			}
			setHeader(s, n)
		case "body":
			path := "/"
			switch len(vals) {
			case 1:
			case 2:
				path = vals[0]
				if !strings.HasPrefix(path, "/") {
					return nil, d.Errf("body: path %q must start with /", path)
				}
			default:
				return nil, d.Errf("body: expected [path] size, e.g. `body /upload 50mb`")
			}
			n, err := parseArg(d, vals[len(vals)-1])
			if err != nil {
				return nil, err
			}
			if err := addBody(path, n); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unknown subdirective %q (expected header or body)", sub)
		}
	}
	if len(args) == 0 && !hadBlock {
		return nil, d.Errf("expected a size (e.g. `limits 10mb`) or a block with header/body lines")
	}
	if len(rules) == 0 {
		return nil, nil
	}
	// Most specific path first, so the first match is the longest one.
	sort.SliceStable(rules, func(i, j int) bool { return len(rules[i].Path) > len(rules[j].Path) })
	return func(next httpserver.Handler) httpserver.Handler {
		return &Handler{Next: next, Rules: rules}
	}, nil
}

func setHeader(s *httpserver.Site, n int64) {
	v := int(min(n, int64(1<<31-1)))
	if s.MaxHeaderBytes == 0 || v < s.MaxHeaderBytes {
		s.MaxHeaderBytes = v
	}
}

func parseArg(d *casketfile.Dispenser, v string) (int64, error) {
	n, err := ParseSize(v)
	if err != nil {
		return 0, d.Errf("%v", err)
	}
	return n, nil
}

// ParseSize reads a positive size: plain bytes ("3500") or a number with a kb, mb or gb unit
// (case-insensitive, powers of 1024: "500kb", "10MB", "1gb").
func ParseSize(v string) (int64, error) {
	lower := strings.ToLower(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"b", 1}} {
		if num, ok := strings.CutSuffix(lower, u.suffix); ok {
			lower, mult = num, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(lower, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q: use a positive number of bytes, optionally with kb, mb or gb (e.g. 10mb)", v)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q is too large", v)
	}
	return n * mult, nil
}
