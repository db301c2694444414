// Package casketfile reads the Casketfile language: it turns text into tokens, tokens into server blocks,
// and hands each directive its own Dispenser. It knows nothing about directives or servers.
//
// Parse handles the whole language: labels, blocks, {$ENV} substitution, import (files, globs and
// snippets, with cycle detection). Format prints a Casketfile in canonical form.
package casketfile

import "strings"

// Token is one word of a Casketfile together with where it came from.
type Token struct {
	File   string // the file the token was read from, as given to the parser
	Line   int    // 1-based line number
	Text   string // the token's text, quotes removed and escapes resolved
	Quoted bool   // true when the token was written in double quotes

	// Imports lists, innermost first, the "file:line" places that imported this token's file or
	// snippet; it is empty for tokens of the top-level file.
	Imports []string
}

// isBrace reports whether t is an unquoted structural brace b ("{" or "}").
func (t Token) isBrace(b string) bool { return !t.Quoted && t.Text == b }

// continuesLine reports whether b follows a on the same source line: same file, same import chain, and b
// starts on the line where a ends (a quoted token may span several lines). Tokens pasted by two different
// imports never share a line, even when they come from the same place of the same file.
func continuesLine(a, b Token) bool {
	if a.File != b.File || a.Line+countNewlines(a) != b.Line || len(a.Imports) != len(b.Imports) {
		return false
	}
	for i := range a.Imports {
		if a.Imports[i] != b.Imports[i] {
			return false
		}
	}
	return true
}

// countNewlines counts line breaks inside a quoted token, which spans several lines.
func countNewlines(t Token) int {
	if !t.Quoted {
		return 0
	}
	return strings.Count(t.Text, "\n")
}

// ServerBlock is one entry of a Casketfile: its labels (site addresses) and its directives in source order.
type ServerBlock struct {
	Keys     []Token
	Segments []Segment
}

// KeyStrings returns the texts of the block's labels.
func (sb ServerBlock) KeyStrings() []string {
	keys := make([]string, len(sb.Keys))
	for i, k := range sb.Keys {
		keys[i] = k.Text
	}
	return keys
}

// Segment is the tokens of one directive: its name, its arguments and any nested block, braces included.
type Segment []Token

// Directive returns the segment's directive name, or "" for an empty segment.
func (s Segment) Directive() string {
	if len(s) == 0 {
		return ""
	}
	return s[0].Text
}
