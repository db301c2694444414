package casketfile

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenize splits a Casketfile into tokens. A leading UTF-8 BOM is skipped and "\r" is dropped outside
// quotes. A token that starts with `"` runs to the next unescaped `"` (it may span lines; only `\"` is an
// escape inside quotes). A `#` outside quotes starts a comment to the end of the line, even mid-token.
// Tokenize fails only on invalid UTF-8 or an unterminated quote.
func Tokenize(src []byte, file string) ([]Token, error) {
	s := string(src)
	s = strings.TrimPrefix(s, "\uFEFF")
	var (
		tokens []Token
		line   = 1
		i      = 0
	)
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, &Error{File: file, Line: line, Msg: "invalid UTF-8: save the file as UTF-8"}
		}
		switch {
		case r == '\n':
			line++
			i += size
		case r == '\r' || unicode.IsSpace(r):
			i += size
		case r == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case r == '"':
			start := line
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\n' {
					line++
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, &Error{File: file, Line: start, Msg: "unterminated quoted string: add the closing \""}
			}
			text := b.String()
			if !utf8.ValidString(text) {
				return nil, &Error{File: file, Line: start, Msg: "invalid UTF-8: save the file as UTF-8"}
			}
			tokens = append(tokens, Token{File: file, Line: start, Text: text, Quoted: true})
		default:
			var b strings.Builder
			for i < len(s) {
				r, size := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && size == 1 {
					return nil, &Error{File: file, Line: line, Msg: "invalid UTF-8: save the file as UTF-8"}
				}
				if unicode.IsSpace(r) || r == '#' {
					break
				}
				if r != '\r' {
					b.WriteRune(r)
				}
				i += size
			}
			tokens = append(tokens, Token{File: file, Line: line, Text: b.String()})
		}
	}
	return tokens, nil
}
