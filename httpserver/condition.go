package httpserver

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/casketserver/casket/casketfile"
)

// Conditions are the `if a op b` lines of a directive block, combined with `if_op and|or` (default and).
// The zero value has no conditions and is always true. Build it with ParseLine while walking a block.
type Conditions struct {
	conds   []condition
	or      bool
	dynamic bool // some side holds a placeholder, so a Replacer is needed
}

// condOp is one comparison operator, before negation.
type condOp uint8

const (
	opIs condOp = iota
	opHas
	opStartsWith
	opEndsWith
	opMatch
)

// condOpOf maps an operator word to its comparison; "not" is "is" negated, and any operator can be
// negated with a "not_" prefix.
func condOpOf(word string) (condOp, bool) {
	switch word {
	case "is":
		return opIs, true
	case "has":
		return opHas, true
	case "starts_with":
		return opStartsWith, true
	case "ends_with":
		return opEndsWith, true
	case "match":
		return opMatch, true
	}
	return 0, false
}

type condition struct {
	a, b       string
	op         condOp
	neg        bool
	re         *regexp.Regexp // for match: b compiled at setup
	aDyn, bDyn bool           // a or b holds a placeholder
}

// ParseLine consumes the current line if it is an `if` or `if_op` line of a block and reports whether it
// did. The Dispenser's cursor must be on the first token of the line (as inside a NextBlock loop).
func (c *Conditions) ParseLine(d *casketfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "if":
		args := d.RemainingArgs()
		if len(args) != 3 {
			return true, d.Errf("if needs 3 arguments (a condition b), got %d", len(args))
		}
		cond, err := newCondition(args[0], args[1], args[2])
		if err != nil {
			return true, d.WrapErr(err)
		}
		c.conds = append(c.conds, cond)
		c.dynamic = c.dynamic || cond.aDyn || cond.bDyn
		return true, nil
	case "if_op":
		var op string
		if !d.AllArgs(&op) {
			return true, d.ArgErr()
		}
		switch op {
		case "and":
			c.or = false
		case "or":
			c.or = true
		default:
			return true, d.Errf("if_op must be 'and' or 'or', got %q", op)
		}
		return true, nil
	}
	return false, nil
}

// IsKeyword reports whether word starts a condition line (`if` or `if_op`).
func IsKeyword(word string) bool { return word == "if" || word == "if_op" }

// conditionError is a config error about one `if` line; ParseLine gives it its file:line.
type conditionError string

func (e conditionError) Error() string { return string(e) }

func newCondition(a, opWord, b string) (condition, error) {
	cond := condition{a: a, b: b, aDyn: hasPlaceholder(a), bDyn: hasPlaceholder(b)}
	word := opWord
	if rest, ok := strings.CutPrefix(word, "not_"); ok {
		cond.neg = true
		word = rest
	}
	if word == "not" {
		cond.neg = !cond.neg
		word = "is"
	}
	op, ok := condOpOf(word)
	if !ok {
		return cond, conditionError("unknown condition " + `"` + opWord + `"` +
			": use is, not, has, starts_with, ends_with, match, or one of them prefixed with not_")
	}
	cond.op = op
	if op == opMatch {
		re, err := regexp.Compile(b)
		if err != nil {
			return cond, conditionError("invalid regular expression " + `"` + b + `": ` + err.Error())
		}
		cond.re = re
		cond.bDyn = false // the pattern is compiled as written
	}
	return cond, nil
}

// hasPlaceholder reports whether s may hold a {placeholder} or an escaped brace.
func hasPlaceholder(s string) bool { return strings.ContainsAny(s, "{}\\") }

// Len returns the number of `if` conditions.
func (c Conditions) Len() int { return len(c.conds) }

// Or reports whether the conditions are combined with `if_op or`.
func (c Conditions) Or() bool { return c.or }

// UsesPlaceholders reports whether evaluating the conditions needs a Replacer.
func (c Conditions) UsesPlaceholders() bool { return c.dynamic }

// True reports whether r satisfies the conditions. No conditions means true.
func (c Conditions) True(r *http.Request) bool {
	if len(c.conds) == 0 {
		return true
	}
	var rp *Replacer
	if c.dynamic {
		rp = NewReplacer(r, "")
	}
	return c.Eval(rp)
}

// Eval is True with a caller's Replacer, so values it Set (regex captures) are visible. rp may be nil
// only when no condition uses a placeholder.
func (c Conditions) Eval(rp *Replacer) bool {
	if len(c.conds) == 0 {
		return true
	}
	for i := range c.conds {
		ok := c.conds[i].eval(rp)
		if c.or && ok {
			return true
		}
		if !c.or && !ok {
			return false
		}
	}
	return !c.or
}

func (cond *condition) eval(rp *Replacer) bool {
	a, b := cond.a, cond.b
	if cond.aDyn && rp != nil {
		a = rp.Replace(a)
	}
	if cond.bDyn && rp != nil {
		b = rp.Replace(b)
	}
	var ok bool
	switch cond.op {
	case opIs:
		ok = a == b
	case opHas:
		ok = strings.Contains(a, b)
	case opStartsWith:
		ok = strings.HasPrefix(a, b)
	case opEndsWith:
		ok = strings.HasSuffix(a, b)
	case opMatch:
		ok = cond.re.MatchString(a)
	}
	return ok != cond.neg
}
