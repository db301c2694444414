package casketfile

import (
	"fmt"
	"strings"
)

// Error is a Casketfile problem tied to a place in a file. It is the only type that formats "file:line:".
type Error struct {
	File    string
	Line    int
	Msg     string   // what went wrong and, where possible, what to do
	Imports []string // "file:line" places that imported File, innermost first
	Err     error    // an underlying error, if any
}

// Error formats the problem as "file:line: msg (imported from a:1, b:2)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		if e.Msg != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	if len(e.Imports) > 0 {
		fmt.Fprintf(&b, " (imported from %s)", strings.Join(e.Imports, ", "))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errAt builds an Error located at token t.
func errAt(t Token, format string, args ...any) *Error {
	return &Error{File: t.File, Line: t.Line, Msg: fmt.Sprintf(format, args...), Imports: t.Imports}
}
