package casketfile

import (
	"errors"
	"fmt"
)

// Dispenser walks the tokens of one directive (or any token list) with a cursor. It keeps the vocabulary
// Caddy users know: Next, NextArg, NextLine, NextBlock, Val, Args, RemainingArgs, ArgErr, Errf.
// The cursor starts before the first token; call Next to reach the directive name.
type Dispenser struct {
	tokens  []Token
	cursor  int
	nesting int
}

// NewDispenser returns a Dispenser over tokens with its cursor before the first token.
func NewDispenser(tokens []Token) *Dispenser {
	return &Dispenser{tokens: tokens, cursor: -1}
}

// Next moves to the next token, wherever it is, and reports whether there was one.
func (d *Dispenser) Next() bool {
	if d.cursor < len(d.tokens)-1 {
		d.cursor++
		return true
	}
	return false
}

// Prev moves the cursor back one token and reports whether it could.
func (d *Dispenser) Prev() bool {
	if d.cursor > -1 {
		d.cursor--
		return d.cursor > -1
	}
	return false
}

// NextArg moves to the next token only if it is on the same line and is not an opening brace of a block.
func (d *Dispenser) NextArg() bool {
	if !d.nextOnSameLine() {
		return false
	}
	if d.tokens[d.cursor+1].isBrace("{") {
		return false
	}
	d.cursor++
	return true
}

// NextLine moves to the next token only if it starts a new line (or is the very first token).
func (d *Dispenser) NextLine() bool {
	if d.cursor < 0 {
		d.cursor++
		return len(d.tokens) > 0
	}
	if d.cursor+1 >= len(d.tokens) {
		return false
	}
	if d.onNewLine(d.cursor + 1) {
		d.cursor++
		return true
	}
	return false
}

// NextBlock enters or advances through a "{ ... }" block that opens on the current line. Pass the
// nesting level the loop started at (usually d.Nesting(), 0 for a directive's top level); it returns
// false when the block ends or when there is none. Typical use:
//
//	for d.NextBlock(0) { switch d.Val() { ... } }
func (d *Dispenser) NextBlock(initialNesting int) bool {
	if d.nesting > initialNesting {
		if !d.Next() {
			return false
		}
		t := d.tokens[d.cursor]
		if t.isBrace("}") {
			d.nesting--
			return d.nesting > initialNesting
		}
		if t.isBrace("{") {
			d.nesting++
		}
		return true
	}
	// Not yet inside: skip the rest of this line looking for an opening brace.
	for d.nextOnSameLine() {
		d.cursor++
		if d.tokens[d.cursor].isBrace("{") {
			if d.cursor+1 >= len(d.tokens) {
				return false // unterminated block: nothing to enter
			}
			if d.tokens[d.cursor+1].isBrace("}") {
				d.cursor++ // empty block
				return false
			}
			d.nesting++
			d.cursor++
			return true
		}
	}
	return false
}

// Nesting returns how many blocks deep the cursor is.
func (d *Dispenser) Nesting() int { return d.nesting }

// Val returns the text of the current token, or "" if there is none.
func (d *Dispenser) Val() string {
	if d.cursor < 0 || d.cursor >= len(d.tokens) {
		return ""
	}
	return d.tokens[d.cursor].Text
}

// Token returns the current token (the zero Token if there is none).
func (d *Dispenser) Token() Token {
	if d.cursor < 0 || d.cursor >= len(d.tokens) {
		return Token{}
	}
	return d.tokens[d.cursor]
}

// Line returns the line of the current token.
func (d *Dispenser) Line() int { return d.Token().Line }

// File returns the file of the current token.
func (d *Dispenser) File() string { return d.Token().File }

// Args copies the next arguments on the line into targets, in order. It reports false, leaving the
// remaining targets alone, if the line had fewer arguments than targets.
func (d *Dispenser) Args(targets ...*string) bool {
	for _, t := range targets {
		if !d.NextArg() {
			return false
		}
		*t = d.Val()
	}
	return true
}

// AllArgs is like Args but also reports false if the line has more arguments than targets.
func (d *Dispenser) AllArgs(targets ...*string) bool {
	if !d.Args(targets...) {
		return false
	}
	if d.NextArg() {
		d.Prev()
		return false
	}
	return true
}

// RemainingArgs returns all arguments left on the current line, stopping before an opening brace.
func (d *Dispenser) RemainingArgs() []string {
	var args []string
	for d.NextArg() {
		args = append(args, d.Val())
	}
	return args
}

// CountRemainingArgs counts the arguments left on the line without moving the cursor.
func (d *Dispenser) CountRemainingArgs() int {
	n := 0
	for i := d.cursor + 1; i < len(d.tokens); i++ {
		if !d.sameLine(i) || d.tokens[i].isBrace("{") {
			break
		}
		n++
	}
	return n
}

// Reset moves the cursor back before the first token.
func (d *Dispenser) Reset() {
	d.cursor = -1
	d.nesting = 0
}

// ArgErr reports a wrong number of arguments at the current token.
func (d *Dispenser) ArgErr() error {
	if d.Val() == "{" {
		return d.Errf("unexpected token '{': the block must open at the end of the line it belongs to")
	}
	return d.Errf("wrong argument count or unexpected line ending after %q", d.Val())
}

// SyntaxErr reports that something else was expected at the current token.
func (d *Dispenser) SyntaxErr(expected string) error {
	return d.Errf("syntax error: unexpected token %q, expecting %s", d.Val(), expected)
}

// EOFErr reports that the input ended too early.
func (d *Dispenser) EOFErr() error {
	return d.Errf("unexpected end of input")
}

// Errf returns an *Error located at the current token, prefixed with the directive name:
// "Casketfile:12: header: expected 1 or 2 arguments, got 3".
func (d *Dispenser) Errf(format string, args ...any) error {
	return d.located(fmt.Sprintf(format, args...), nil)
}

// WrapErr wraps err with the location of the current token. An *Error is returned unchanged.
func (d *Dispenser) WrapErr(err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	return d.located("", err)
}

func (d *Dispenser) located(msg string, err error) *Error {
	t := d.Token()
	if d.cursor < 0 && len(d.tokens) > 0 {
		t = d.tokens[0]
	} else if d.cursor >= len(d.tokens) && len(d.tokens) > 0 {
		t = d.tokens[len(d.tokens)-1]
	}
	if len(d.tokens) > 0 && d.tokens[0].Text != "" {
		if msg != "" {
			msg = d.tokens[0].Text + ": " + msg
		} else {
			msg = d.tokens[0].Text
		}
	}
	return &Error{File: t.File, Line: t.Line, Msg: msg, Err: err, Imports: t.Imports}
}

// sameLine reports whether token i is on the same line (and in the same file) as the current token.
func (d *Dispenser) sameLine(i int) bool {
	if d.cursor < 0 || i >= len(d.tokens) {
		return false
	}
	return continuesLine(d.tokens[d.cursor], d.tokens[i])
}

func (d *Dispenser) nextOnSameLine() bool { return d.sameLine(d.cursor + 1) }

func (d *Dispenser) onNewLine(i int) bool {
	if i <= 0 {
		return true
	}
	return !continuesLine(d.tokens[i-1], d.tokens[i])
}
