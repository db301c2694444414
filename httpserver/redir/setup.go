// Package redir implements the `redir` directive: HTTP redirects from exact paths (or every path) to
// targets that may use placeholders, optionally guarded by `if` conditions.
package redir

import (
	"strconv"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Rule is one redirect.
type Rule struct {
	From  string // exact request path; "/" matches every path
	To    string // target URL or path; may hold placeholders
	Code  int    // 300-308 except 306; 0 when Meta
	Meta  bool   // answer 200 with an HTML meta-refresh page instead of a 3xx status
	Conds httpserver.Conditions

	dynamic bool // To holds a placeholder
}

// DefaultCode is the status used when a rule names none.
const DefaultCode = 301

// Setup parses `redir [from] to [code]` and the table form
//
//	redir [code] {
//	    if a op b
//	    if_op and|or
//	    [from] to [code]
//	}
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	rules, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return &Redirect{Next: next, Rules: rules}
	}, nil
}

func parse(d *casketfile.Dispenser) ([]Rule, error) {
	var rules []Rule
	for d.Next() {
		args := d.RemainingArgs()
		if !opensBlock(d) {
			rule, err := parseRule(d, args, Rule{Code: DefaultCode})
			if err != nil {
				return nil, err
			}
			if err := checkDuplicate(d, rules, rule); err != nil {
				return nil, err
			}
			rules = append(rules, rule)
			continue
		}
		def := Rule{Code: DefaultCode}
		switch len(args) {
		case 0:
		case 1:
			if !parseCode(args[0], &def) {
				return nil, d.Errf("%s", codeError(args[0]))
			}
		default:
			return nil, d.Errf("a redir table takes at most a status code before its block, got %d arguments", len(args))
		}
		var conds httpserver.Conditions
		first := len(rules)
		for d.NextBlock(0) {
			if took, err := conds.ParseLine(d); err != nil {
				return nil, err
			} else if took {
				continue
			}
			line := append([]string{d.Val()}, d.RemainingArgs()...)
			rule, err := parseRule(d, line, def)
			if err != nil {
				return nil, err
			}
			for _, other := range rules[first:] {
				if other.From == rule.From {
					return nil, d.Errf("duplicate redirect from %q (already to %q)", rule.From, other.To)
				}
			}
			if err := checkDuplicate(d, rules[:first], rule); err != nil {
				return nil, err
			}
			rules = append(rules, rule)
		}
		if len(rules) == first {
			return nil, d.Errf("the redir block has no redirects: add lines of the form `from to [code]`")
		}
		for i := first; i < len(rules); i++ {
			rules[i].Conds = conds // conditions apply to the whole table, wherever they were written
		}
	}
	return rules, nil
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

// parseRule reads `to`, `to code`, `from to` or `from to code`; def carries the default code.
func parseRule(d *casketfile.Dispenser, args []string, def Rule) (Rule, error) {
	rule := def
	rule.From = "/"
	switch len(args) {
	case 1:
		rule.To = args[0]
	case 2:
		if looksLikeCode(args[1]) {
			rule.To = args[0]
			if !parseCode(args[1], &rule) {
				return rule, d.Errf("%s", codeError(args[1]))
			}
		} else {
			rule.From, rule.To = args[0], args[1]
		}
	case 3:
		rule.From, rule.To = args[0], args[1]
		if !parseCode(args[2], &rule) {
			return rule, d.Errf("%s", codeError(args[2]))
		}
	default:
		return rule, d.Errf("expected `[from] to [code]`, got %d arguments", len(args))
	}
	if !strings.HasPrefix(rule.From, "/") {
		return rule, d.Errf("from path %q must start with /", rule.From)
	}
	if rule.To == "" {
		return rule, d.Errf("empty redirect target")
	}
	if rule.From == rule.To {
		return rule, d.Errf("from and to are both %q, which would redirect forever", rule.From)
	}
	rule.dynamic = strings.ContainsAny(rule.To, "{}\\")
	return rule, nil
}

// checkDuplicate refuses a second unconditional rule for the same path (it could never match).
// Rules of a table get their conditions after the block, so a table line counts as unconditional here;
// that only errs when the earlier rule is unconditional too, which would shadow the table line anyway.
func checkDuplicate(d *casketfile.Dispenser, rules []Rule, rule Rule) error {
	for _, other := range rules {
		if other.From == rule.From && other.Conds.Len() == 0 && rule.Conds.Len() == 0 {
			return d.Errf("duplicate redirect from %q (already to %q)", rule.From, other.To)
		}
	}
	return nil
}

// looksLikeCode reports whether a token is meant as a status: "meta" or three digits.
func looksLikeCode(s string) bool {
	if s == "meta" {
		return true
	}
	_, err := strconv.Atoi(s)
	return err == nil && len(s) == 3
}

// parseCode sets the code (or Meta) of rule from s and reports whether s is an allowed redirect code.
func parseCode(s string, rule *Rule) bool {
	if s == "meta" {
		rule.Meta, rule.Code = true, 0
		return true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 300 || n > 308 || n == 306 {
		return false
	}
	rule.Meta, rule.Code = false, n
	return true
}

func codeError(s string) string {
	return "invalid redirect code " + strconv.Quote(s) + ": use 300-308 (except 306) or meta"
}
