// Package rewrite implements the `rewrite` directive: internal URL rewriting, invisible to the client.
package rewrite

import (
	"cmp"
	"regexp"
	"slices"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Rule is one rewrite: where it applies and the destinations to try.
type Rule struct {
	Base   string         // base path the request must be under ("/" for simple rules)
	Regexp *regexp.Regexp // nil: no pattern
	Negate bool           // simple `rewrite not`: rewrite when the pattern does not match
	Simple bool           // the pattern is matched against the whole path, not the part after Base
	Exts   []string       // extension filters as written: ".html", "!.php", "/" (no extension)
	Conds  httpserver.Conditions
	To     []string // destinations, tried in order; the last is the fallback

	exts      []extFilter
	mustMatch bool // some filter includes, so an unlisted extension is excluded
	to        []dest
}

type extFilter struct {
	ext     string // lower-case, "/" for none
	include bool
}

// dest is one destination split at its first literal "?" (one outside any {placeholder}), so values a
// placeholder brings in cannot move the boundary between path and query.
type dest struct {
	path, query       string
	hasQuery          bool
	pathDyn, queryDyn bool
}

// Setup parses the simple form `rewrite [not] pattern to...` and the block form
//
//	rewrite [base] {
//	    r|regexp pattern
//	    ext      .a !.b /
//	    if       a op b
//	    if_op    and|or
//	    to       destinations...
//	}
//
// It reads nothing from disk; destinations are checked against s.Root for each request.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	rules, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return &Rewrite{Next: next, Rules: rules, Site: s}
	}, nil
}

func parse(d *casketfile.Dispenser) ([]Rule, error) {
	var rules []Rule
	for d.Next() {
		args := d.RemainingArgs()
		var rule Rule
		var err error
		if len(args) >= 2 {
			rule, err = parseSimple(d, args)
		} else {
			rule, err = parseBlock(d, args)
		}
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	// The most specific base path is tried first; equal bases keep their order.
	slices.SortStableFunc(rules, func(a, b Rule) int { return cmp.Compare(len(b.Base), len(a.Base)) })
	return rules, nil
}

func parseSimple(d *casketfile.Dispenser, args []string) (Rule, error) {
	rule := Rule{Base: "/", Simple: true}
	if args[0] == "not" {
		rule.Negate = true
		args = args[1:]
	}
	if len(args) < 2 {
		return rule, d.Errf("expected `rewrite [not] pattern destinations...`")
	}
	if opensBlock(d) {
		return rule, d.Errf("a block follows a simple rewrite: write `rewrite [base] {` and put the pattern in `r`")
	}
	re, err := regexp.Compile(args[0])
	if err != nil {
		return rule, d.Errf("invalid regular expression %q: %v", args[0], err)
	}
	rule.Regexp = re
	rule.setTo(args[1:])
	return rule, nil
}

func parseBlock(d *casketfile.Dispenser, args []string) (Rule, error) {
	rule := Rule{Base: "/"}
	if len(args) == 1 {
		rule.Base = args[0]
		if !strings.HasPrefix(rule.Base, "/") {
			return rule, d.Errf("base path %q must start with /", rule.Base)
		}
	}
	for d.NextBlock(0) {
		if took, err := rule.Conds.ParseLine(d); err != nil {
			return rule, err
		} else if took {
			continue
		}
		switch sub := d.Val(); sub {
		case "r", "regexp":
			var pattern string
			if !d.AllArgs(&pattern) {
				return rule, d.Errf("%s takes one regular expression", sub)
			}
			if rule.Regexp != nil {
				return rule, d.Errf("only one %s per rewrite block", sub)
			}
			re, err := regexp.Compile(pattern)
			if err != nil {
				return rule, d.Errf("invalid regular expression %q: %v", pattern, err)
			}
			rule.Regexp = re
		case "ext":
			exts := d.RemainingArgs()
			if len(exts) == 0 {
				return rule, d.Errf("ext needs at least one extension, such as .html, !.php or /")
			}
			for _, e := range exts {
				if !validExt(e) {
					return rule, d.Errf("invalid extension %q: start it with a dot (.html), prefix ! to exclude, / for none", e)
				}
			}
			rule.Exts = append(rule.Exts, exts...)
		case "to":
			to := d.RemainingArgs()
			if len(to) == 0 {
				return rule, d.Errf("to needs at least one destination")
			}
			rule.setTo(to)
		default:
			return rule, d.Errf("unknown subdirective %q: use r, ext, if, if_op or to", sub)
		}
	}
	if len(rule.To) == 0 {
		return rule, d.Errf("missing destination: add `to destinations...`")
	}
	rule.compileExts()
	return rule, nil
}

func (rule *Rule) setTo(to []string) {
	rule.To = to
	rule.to = make([]dest, len(to))
	for i, t := range to {
		d := dest{path: t}
		if q := queryMark(t); q >= 0 {
			d.path, d.query, d.hasQuery = t[:q], t[q+1:], true
		}
		d.pathDyn = strings.ContainsAny(d.path, "{}\\")
		d.queryDyn = strings.ContainsAny(d.query, "{}\\")
		rule.to[i] = d
	}
}

// queryMark returns the index of the first "?" of t outside braces, or -1.
func queryMark(t string) int {
	depth := 0
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '\\':
			i++ // an escaped brace is literal
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case '?':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func (rule *Rule) compileExts() {
	for _, e := range rule.Exts {
		f := extFilter{include: true}
		if rest, ok := strings.CutPrefix(e, "!"); ok {
			f.include = false
			e = rest
		}
		f.ext = strings.ToLower(e)
		rule.mustMatch = rule.mustMatch || f.include
		rule.exts = append(rule.exts, f)
	}
}

// validExt accepts ".x", "!.x", "/" and "!/".
func validExt(e string) bool {
	e = strings.TrimPrefix(e, "!")
	return e == "/" || (len(e) >= 2 && e[0] == '.' && !strings.Contains(e, "/"))
}

// opensBlock reports whether the next token is a "{" on the current line, without moving the cursor.
func opensBlock(d *casketfile.Dispenser) bool {
	line := d.Line()
	if !d.Next() {
		return false
	}
	t := d.Token()
	d.Prev()
	return t.Text == "{" && !t.Quoted && t.Line == line
}
