package proxy

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// HeaderAction says what a HeaderOp does.
type HeaderAction uint8

// The header actions: `Name value` sets, `+Name value` appends, `-Name` removes and
// `Name regex replacement` rewrites the existing values.
const (
	HeaderSet HeaderAction = iota
	HeaderAdd
	HeaderRemove
	HeaderReplace
)

// HeaderOp is one header_upstream or header_downstream rule.
type HeaderOp struct {
	Action HeaderAction
	Name   string         // canonical field name
	Value  string         // value or replacement; may hold placeholders
	Regexp *regexp.Regexp // for HeaderReplace

	dynamic bool // Value holds placeholders
}

// newHeaderOp builds a rule from `[+-]Name` and its 0, 1 or 2 values.
func newHeaderOp(field string, values []string) (HeaderOp, error) {
	var op HeaderOp
	switch {
	case strings.HasPrefix(field, "-"):
		op.Action, field = HeaderRemove, field[1:]
	case strings.HasPrefix(field, "+"):
		op.Action, field = HeaderAdd, field[1:]
	}
	if field == "" || strings.ContainsAny(field, " \t\r\n:{}") {
		return op, fmt.Errorf("invalid header field name %q", field)
	}
	op.Name = http.CanonicalHeaderKey(field)
	switch {
	case op.Action == HeaderRemove:
		if len(values) != 0 {
			return op, fmt.Errorf("-%s takes no value", op.Name)
		}
		return op, nil
	case len(values) == 1:
		op.Value = values[0]
	case len(values) == 2 && op.Action == HeaderSet:
		re, err := regexp.Compile(values[0])
		if err != nil {
			return op, fmt.Errorf("bad regular expression for %s: %v", op.Name, err)
		}
		op.Action, op.Regexp, op.Value = HeaderReplace, re, values[1]
	default:
		return op, fmt.Errorf("%s: want a value, or a regular expression and a replacement", op.Name)
	}
	if strings.ContainsAny(op.Value, "\r\n\x00") {
		return op, fmt.Errorf("value of %s must not contain line breaks", op.Name)
	}
	op.dynamic = strings.ContainsAny(op.Value, "{}\\")
	return op, nil
}

// applyOps runs ops on h; in is the client's request (for placeholders) and out, when not nil, the
// outgoing request whose Host field a `Host` rule sets. rp is created on first use.
func applyOps(ops []HeaderOp, h http.Header, in *http.Request, out *http.Request, rp **httpserver.Replacer) {
	for i := range ops {
		op := &ops[i]
		v := op.Value
		if op.dynamic {
			if *rp == nil {
				*rp = httpserver.NewReplacer(in, "")
			}
			v = (*rp).Replace(v)
		}
		if out != nil && op.Name == "Host" {
			switch op.Action {
			case HeaderSet, HeaderAdd:
				out.Host = v
			case HeaderReplace:
				host := out.Host
				if host == "" {
					host = out.URL.Host
				}
				out.Host = op.Regexp.ReplaceAllString(host, v)
			case HeaderRemove:
				out.Host = ""
			}
			continue
		}
		switch op.Action {
		case HeaderSet:
			h[op.Name] = []string{v}
		case HeaderAdd:
			h[op.Name] = append(h[op.Name], v)
		case HeaderRemove:
			delete(h, op.Name)
		case HeaderReplace:
			vals := h[op.Name]
			for j, old := range vals {
				vals[j] = op.Regexp.ReplaceAllString(old, v)
			}
		}
	}
}
