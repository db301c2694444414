// Package header implements the `header` directive: set, append or remove response header fields for
// requests under a base path.
package header

import (
	"net/http"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Action says what an Op does to its field.
type Action uint8

// The actions: `Name value` sets, `+Name value` appends, `-Name` removes.
const (
	Set Action = iota
	Add
	Remove
)

// Op is one header line of a rule.
type Op struct {
	Action Action
	Name   string // canonical field name, without the + or - prefix
	Value  string // may hold placeholders; empty for Remove

	dynamic bool // Value holds a placeholder
	late    bool // Value needs the response ({<Field}, {status}...), so it is expanded at WriteHeader
}

// Rule is the set of header operations for one base path.
type Rule struct {
	Path string
	Ops  []Op
}

// Setup parses `header path Name value`, `header path -Name`, `header path +Name value` and the block
// form `header path { Name value; -Name; +Name value }`.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	rules, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return New(next, rules)
	}, nil
}

func parse(d *casketfile.Dispenser) ([]Rule, error) {
	var rules []Rule
	for d.Next() {
		var rule Rule
		if !d.NextArg() {
			return nil, d.Errf("missing base path: use `header path Name value` or `header path { ... }`")
		}
		rule.Path = d.Val()
		if args := d.RemainingArgs(); len(args) > 0 {
			op, err := parseOp(d, args[0], args[1:])
			if err != nil {
				return nil, err
			}
			rule.Ops = append(rule.Ops, op)
		}
		for d.NextBlock(0) {
			op, err := parseOp(d, d.Val(), d.RemainingArgs())
			if err != nil {
				return nil, err
			}
			rule.Ops = append(rule.Ops, op)
		}
		if len(rule.Ops) == 0 {
			return nil, d.Errf("no header fields for path %q: add `Name value` after the path or in a block", rule.Path)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// parseOp reads one `[+-]Name [value...]` line; several value tokens are joined with spaces.
func parseOp(d *casketfile.Dispenser, field string, values []string) (Op, error) {
	var op Op
	switch {
	case strings.HasPrefix(field, "-"):
		op.Action = Remove
		field = field[1:]
	case strings.HasPrefix(field, "+"):
		op.Action = Add
		field = field[1:]
	}
	if !validFieldName(field) {
		return op, d.Errf("invalid header field name %q", field)
	}
	op.Name = http.CanonicalHeaderKey(field)
	if op.Action == Remove {
		if len(values) > 0 {
			return op, d.Errf("-%s removes a field and takes no value, got %d", op.Name, len(values))
		}
		return op, nil
	}
	if len(values) == 0 {
		return op, d.Errf("missing value for %s: to remove the field write -%s", op.Name, op.Name)
	}
	op.Value = strings.Join(values, " ")
	if strings.ContainsAny(op.Value, "\r\n\x00") {
		return op, d.Errf("value of %s must not contain line breaks", op.Name)
	}
	op.dynamic = strings.ContainsAny(op.Value, "{}\\")
	op.late = op.dynamic && needsResponse(op.Value)
	return op, nil
}

// needsResponse reports whether a value uses placeholders known only once the response is written.
func needsResponse(v string) bool {
	for _, p := range []string{"{<", "{status}", "{size}", "{latency}", "{latency_ms}"} {
		if strings.Contains(v, p) {
			return true
		}
	}
	return false
}

// validFieldName reports whether name is a non-empty RFC 9110 token.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
