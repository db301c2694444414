// Package status implements the `status` directive: answer requests under some base paths with a bare
// status code.
package status

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Rule answers requests under Path with Code.
type Rule struct {
	Code int
	Path string
}

// Setup parses `status code path` and `status code { paths... }`.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	rules, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return &Status{Next: next, Rules: rules}
	}, nil
}

func parse(d *casketfile.Dispenser) ([]Rule, error) {
	var rules []Rule
	add := func(code int, p string) error {
		if !strings.HasPrefix(p, "/") {
			return d.Errf("base path %q must start with /", p)
		}
		for _, r := range rules {
			if r.Path == p {
				return d.Errf("duplicate path %q (already status %d)", p, r.Code)
			}
		}
		rules = append(rules, Rule{Code: code, Path: p})
		return nil
	}
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 || len(args) > 2 {
			return nil, d.Errf("expected `status code path` or `status code { paths... }`, got %d arguments", len(args))
		}
		code, err := strconv.Atoi(args[0])
		if err != nil || code < 200 || code > 599 {
			return nil, d.Errf("invalid status code %q: use a number from 200 to 599", args[0])
		}
		n := len(rules)
		if len(args) == 2 {
			if err := add(code, args[1]); err != nil {
				return nil, err
			}
		}
		for d.NextBlock(0) {
			if err := add(code, d.Val()); err != nil {
				return nil, err
			}
			for d.NextArg() {
				if err := add(code, d.Val()); err != nil {
					return nil, err
				}
			}
		}
		if len(rules) == n {
			return nil, d.Errf("status %d has no paths: use `status %d /path` or list paths in a block", code, code)
		}
	}
	// The longest base path wins, so it is tried first.
	slices.SortStableFunc(rules, func(a, b Rule) int { return cmp.Compare(len(b.Path), len(a.Path)) })
	return rules, nil
}
