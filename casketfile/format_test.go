package casketfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFormatGolden formats the "in" file of each testdata/format archive and compares it with "want".
func TestFormatGolden(t *testing.T) {
	golden(t, "format", func(t *testing.T, a archive) string {
		in, ok := a.get("in")
		if !ok {
			t.Fatal("archive has no in file")
		}
		if err := checkFormat(in); err != nil {
			t.Error(err)
		}
		return string(Format(in))
	})
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "blank", in: "\n \n\t\n", want: ""},
		{name: "crlf", in: "a {\r\n  gzip\r\n}\r\n", want: "a {\n\tgzip\n}\n"},
		{name: "byte order mark", in: "\uFEFFa {\n}\n", want: "a {\n}\n"},
		{name: "token that looks like a byte order mark", in: "\uFEFF\uFEFFa", want: "\uFEFF\uFEFFa\n"},
		{name: "final newline added", in: "a", want: "a\n"},
		{name: "hash mid-token", in: "a {\n  foo#bar baz\n}", want: "a {\n\tfoo #bar baz\n}\n"},
		{name: "quote after quote", in: `x "a""b"`, want: "x \"a\" \"b\"\n"},
		{name: "quoted carriage return kept", in: "x \"a\r\nb\"\r\n", want: "x \"a\r\nb\"\n"},
		{name: "unicode space", in: "a\u00a0b", want: "a b\n"},
		{name: "comment only", in: "  # c  \n", want: "# c\n"},
		{name: "unterminated quote unchanged", in: "a {\n  x \"oops\n}\n", want: "a {\n  x \"oops\n}\n"},
		{name: "invalid utf-8 unchanged", in: "a \xff  b", want: "a \xff  b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Format([]byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if err := checkFormat([]byte(tt.in)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestFormatTestdata checks the formatter's properties on every Casketfile in testdata.
func TestFormatTestdata(t *testing.T) {
	for _, src := range testdataInputs(t) {
		if err := checkFormat(src); err != nil {
			t.Errorf("%v\ninput:\n%s", err, src)
		}
	}
}

// checkFormat verifies that formatting src is idempotent and keeps its tokens, their quoting and which
// of them share a line.
func checkFormat(src []byte) error {
	once := Format(src)
	if twice := Format(once); !bytes.Equal(once, twice) {
		return fmt.Errorf("Format is not idempotent:\nonce:  %q\ntwice: %q", once, twice)
	}
	before, err := Tokenize(src, "f")
	if err != nil {
		if !bytes.Equal(once, src) {
			return fmt.Errorf("Format changed input that does not tokenize")
		}
		return nil
	}
	after, err := Tokenize(once, "f")
	if err != nil {
		return fmt.Errorf("formatted output does not tokenize: %v", err)
	}
	if len(before) != len(after) {
		return fmt.Errorf("Format changed the token count from %d to %d:\n%q", len(before), len(after), once)
	}
	for i := range before {
		b, a := before[i], after[i]
		if b.Text != a.Text || b.Quoted != a.Quoted {
			return fmt.Errorf("token %d changed from %q to %q", i, b.Text, a.Text)
		}
		if i > 0 && continuesLine(before[i-1], b) != continuesLine(after[i-1], a) {
			return fmt.Errorf("token %d (%q) moved to another line", i, b.Text)
		}
	}
	return nil
}

// testdataInputs returns every Casketfile-like input in testdata: the files of the parse and error
// archives and the inputs of the format archives.
func testdataInputs(t testing.TB) [][]byte {
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	var inputs [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range parseArchive(data).files {
			if f.name != "want" {
				inputs = append(inputs, f.data)
			}
		}
	}
	return inputs
}
