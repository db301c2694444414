package casketfile

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Format returns src in canonical form: one tab of indentation per open block, one space between the
// tokens of a line, comments kept (one space after the last token of their line), no trailing spaces, at
// most one blank line in a row and none just inside braces, "\n" line endings and a final newline.
// Tokens are written exactly as in src, quotes and escapes included, and never move to another line, so
// the formatted file parses to the same tokens. Format is idempotent. When src cannot be tokenized
// (invalid UTF-8 or an unterminated quote), Format returns it unchanged.
func Format(src []byte) []byte {
	if _, err := Tokenize(src, ""); err != nil {
		return src
	}
	var (
		out        bytes.Buffer
		depth      int
		blank      bool // a blank line is pending
		prevOpened bool // the previous line ended with '{'
	)
	for _, l := range scanLines(src) {
		if len(l.words) == 0 && l.comment == "" {
			blank = out.Len() > 0
			continue
		}
		closes := len(l.words) > 0 && l.words[0] == "}"
		if blank && !prevOpened && !closes {
			out.WriteByte('\n')
		}
		blank = false
		indent := depth
		if closes && indent > 0 {
			indent--
		}
		out.WriteString(strings.Repeat("\t", indent))
		out.WriteString(strings.Join(l.words, " "))
		if l.comment != "" {
			if len(l.words) > 0 {
				out.WriteByte(' ')
			}
			out.WriteString(l.comment)
		}
		out.WriteByte('\n')
		for _, w := range l.words {
			switch w {
			case "{":
				depth++
			case "}":
				depth = max(depth-1, 0)
			}
		}
		prevOpened = len(l.words) > 0 && l.words[len(l.words)-1] == "{"
	}
	if bytes.HasPrefix(out.Bytes(), []byte("\uFEFF")) {
		// A first token that starts with U+FEFF would be read back as a byte order mark.
		return append([]byte("\uFEFF"), out.Bytes()...)
	}
	return out.Bytes()
}

// srcLine is one line of a Casketfile as written: its tokens in source form and its comment.
type srcLine struct {
	words   []string // tokens as written, quotes included; a quoted token may contain newlines
	comment string   // "#..." without trailing space, or ""
}

// scanLines splits src into lines with the same rules as Tokenize, keeping tokens and comments as
// written. A line break inside a quoted token does not end a line. src must tokenize without error.
func scanLines(src []byte) []srcLine {
	s := strings.TrimPrefix(string(src), "\uFEFF")
	var (
		lines []srcLine
		cur   srcLine
	)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n':
			lines = append(lines, cur)
			cur = srcLine{}
			i += size
		case unicode.IsSpace(r):
			i += size
		case r == '#':
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			cur.comment = strings.TrimRightFunc(s[i:i+end], unicode.IsSpace)
			i += end
		case r == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' && j+1 < len(s) && s[j+1] == '"' {
					j++
				}
				j++
			}
			j = min(j+1, len(s))
			cur.words = append(cur.words, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r) || r == '#' {
					break
				}
				j += size
			}
			cur.words = append(cur.words, s[i:j])
			i = j
		}
	}
	return append(lines, cur)
}
