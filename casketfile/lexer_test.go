package casketfile

import (
	"errors"
	"reflect"
	"testing"
)

// tok is a short way to write an expected token of the file "f".
func tok(line int, text string) Token { return Token{File: "f", Line: line, Text: text} }

func quoted(line int, text string) Token {
	return Token{File: "f", Line: line, Text: text, Quoted: true}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []Token
	}{
		{name: "empty", src: "", want: nil},
		{name: "spaces only", src: " \t\n\r\n ", want: nil},
		{name: "words and lines", src: "a.com {\n\tgzip\n}\n",
			want: []Token{tok(1, "a.com"), tok(1, "{"), tok(2, "gzip"), tok(3, "}")}},
		{name: "byte order mark", src: "\uFEFFa.com", want: []Token{tok(1, "a.com")}},
		{name: "carriage returns", src: "a\r\nb\r\n", want: []Token{tok(1, "a"), tok(2, "b")}},
		{name: "unicode space splits", src: "a\u00a0b\u2003c", want: []Token{tok(1, "a"), tok(1, "b"), tok(1, "c")}},
		{name: "comment line", src: "# hi\na # there\nb", want: []Token{tok(2, "a"), tok(3, "b")}},
		{name: "hash mid-token", src: "foo#bar baz\nx", want: []Token{tok(1, "foo"), tok(2, "x")}},
		{name: "quoted with spaces", src: `a "b c" d`, want: []Token{tok(1, "a"), quoted(1, "b c"), tok(1, "d")}},
		{name: "escaped quote", src: `"say \"hi\""`, want: []Token{quoted(1, `say "hi"`)}},
		{name: "other backslashes kept", src: `"a\nb\\c" x`, want: []Token{quoted(1, `a\nb\\c`), tok(1, "x")}},
		{name: "quoted newline", src: "\"one\ntwo\" three\nfour",
			want: []Token{quoted(1, "one\ntwo"), tok(2, "three"), tok(3, "four")}},
		{name: "quoted carriage return kept", src: "\"a\r\nb\"", want: []Token{quoted(1, "a\r\nb")}},
		{name: "hash inside quotes", src: `"a # b"`, want: []Token{quoted(1, "a # b")}},
		{name: "empty quoted token", src: `a "" b`, want: []Token{tok(1, "a"), quoted(1, ""), tok(1, "b")}},
		{name: "quote mid-token is literal", src: `a"b c"`, want: []Token{tok(1, `a"b`), tok(1, `c"`)}},
		{name: "quote right after quote", src: `"a""b"`, want: []Token{quoted(1, "a"), quoted(1, "b")}},
		{name: "quoted brace", src: `"{" {`, want: []Token{quoted(1, "{"), tok(1, "{")}},
		{name: "utf-8 text", src: "héllo wörld", want: []Token{tok(1, "héllo"), tok(1, "wörld")}},
		{name: "invalid utf-8 in comment is ignored", src: "a # \xff\nb", want: []Token{tok(1, "a"), tok(2, "b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tokenize([]byte(tt.src), "f")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestTokenizeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{name: "unterminated quote", src: "a\nb \"c\nd", want: `f:2: unterminated quoted string: add the closing "`},
		{name: "escaped closing quote", src: `"abc\"`, want: `f:1: unterminated quoted string: add the closing "`},
		{name: "invalid utf-8 word", src: "a\nb\xffc", want: "f:2: invalid UTF-8: save the file as UTF-8"},
		{name: "invalid utf-8 quoted", src: "\"\xff\"", want: "f:1: invalid UTF-8: save the file as UTF-8"},
		{name: "invalid utf-8 first byte", src: "\xfe", want: "f:1: invalid UTF-8: save the file as UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Tokenize([]byte(tt.src), "f")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("got %q, want %q", err, tt.want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{name: "plain", err: &Error{File: "C", Line: 3, Msg: "bad"}, want: "C:3: bad"},
		{name: "no file", err: &Error{Msg: "bad"}, want: "bad"},
		{name: "wrapped", err: &Error{File: "C", Line: 1, Msg: "gzip", Err: errors.New("boom")}, want: "C:1: gzip: boom"},
		{name: "only wrapped", err: &Error{File: "C", Line: 1, Err: errors.New("boom")}, want: "C:1: boom"},
		{name: "imported", err: &Error{File: "b", Line: 4, Msg: "x", Imports: []string{"a:2", "C:1"}},
			want: "b:4: x (imported from a:2, C:1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	inner := errors.New("inner")
	if !errors.Is(&Error{Err: inner}, inner) {
		t.Error("Unwrap does not expose the wrapped error")
	}
}
