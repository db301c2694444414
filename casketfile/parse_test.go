package casketfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSubstitute(t *testing.T) {
	env := map[string]string{"A": "1", "B": "two words", "EMPTY": "", "REF": "{$A}", "X=Y": "no"}
	getenv := func(k string) string { return env[k] }
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"{$A}", "1"},
		{"{%A%}", "1"},
		{"x{$A}y{%A%}z", "x1y1z"},
		{"{$UNSET}", ""},
		{"{%UNSET%}", ""},
		{"{$B}", "two words"},
		{"{$EMPTY}x", "x"},
		{"{$REF}", "{$A}"}, // values are not expanded again
		{"{$A=default}", "{$A=default}"},
		{"{$X=Y}", "{$X=Y}"},
		{`\{$A}`, `\{$A}`},
		{`\\{$A}`, `\\{$A}`},
		{"{$}", "{$}"},
		{"{%%}", "{%%}"},
		{"{$A", "{$A"},
		{"{%A}", "{%A}"},
		{"{%A%B%}", "{%A%B%}"},
		{"{${$A}}", "{$1}"},
		{"{host}{$A}{path}", "{host}1{path}"},
		{"{", "{"},
		{"ü{$A}ü", "ü1ü"},
	}
	for _, tt := range tests {
		if got := substitute(tt.in, getenv); got != tt.want {
			t.Errorf("substitute(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSubstitutedBraceIsNotStructural(t *testing.T) {
	opts := ParseOptions{Getenv: func(k string) string { return map[string]string{"O": "{", "C": "}"}[k] }}
	blocks, err := ParseWithOptions("Casketfile", []byte("a.com {\n\tx {$C}\n\ty {$O}\n}\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	segs := blocks[0].Segments
	if len(segs) != 2 || !segs[0][1].Quoted || segs[0][1].Text != "}" || !segs[1][1].Quoted {
		t.Errorf("got %+v", segs)
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "conf", "Casketfile"), "import sites/*\n")
	write(t, filepath.Join(dir, "conf", "sites", "a"), "a.com {\n\tgzip\n}\n")
	path := filepath.Join(dir, "conf", "Casketfile")
	blocks, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 || blocks[0].KeyStrings()[0] != "a.com" {
		t.Fatalf("got %+v", blocks)
	}
	key := blocks[0].Keys[0]
	wantFile := filepath.Join(dir, "conf", "sites", "a")
	if key.File != wantFile || !reflect.DeepEqual(key.Imports, []string{path + ":1"}) {
		t.Errorf("key from %s %v, want %s [%s:1]", key.File, key.Imports, wantFile, path)
	}

	_, err = ParseFile(filepath.Join(dir, "missing"))
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Errorf("missing file: got %T %v, want *fs.PathError", err, err)
	}
}

func TestParseOSImports(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs.conf")
	write(t, abs, "abs.com {\n}\n")
	write(t, filepath.Join(dir, "a.conf"), "import link.conf\n")
	if err := os.Symlink(filepath.Join(dir, "a.conf"), filepath.Join(dir, "link.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "Casketfile")
	tests := []struct {
		name    string
		src     string
		wantKey string
		wantErr string
	}{
		{name: "absolute path", src: "import " + abs + "\n", wantKey: "abs.com"},
		{name: "absolute glob", src: "import " + filepath.Join(dir, "ab*.conf") + "\n", wantKey: "abs.com"},
		{name: "cycle through a symlink", src: "import a.conf\n",
			wantErr: filepath.Join(dir, "a.conf") + ":1: import link.conf: import cycle:"},
		{name: "directory", src: "import sub\n",
			wantErr: root + ":1: import sub: " + filepath.Join(dir, "sub") + " is a directory"},
		{name: "directory in a glob", src: "import su*\n",
			wantErr: root + ":1: import su*: " + filepath.Join(dir, "sub") + " is a directory"},
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		tests = append(tests, struct {
			name    string
			src     string
			wantKey string
			wantErr string
		}{name: "device", src: "import /dev/null\n", wantErr: root + ":1: import /dev/null: /dev/null is not a regular file"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, err := Parse(root, []byte(tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one starting %q", err, tt.wantErr)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Errorf("got %T, want *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(blocks) != 1 || blocks[0].KeyStrings()[0] != tt.wantKey {
				t.Errorf("got %+v", blocks)
			}
		})
	}
}

func TestParseFSConfinement(t *testing.T) {
	fsys := fstest.MapFS{"conf/a": {Data: []byte("gzip\n")}}
	tests := []struct{ src, want string }{
		{"import /etc/passwd", "conf/Casketfile:1: import /etc/passwd: absolute paths cannot be imported here"},
		{"import ../../x", "conf/Casketfile:1: import ../../x: ../x is outside the configuration's file system"},
		{"import ../conf/a", ""},
	}
	for _, tt := range tests {
		_, err := ParseWithOptions("conf/Casketfile", []byte(tt.src), ParseOptions{FS: fsys})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestParseTokenLimit(t *testing.T) {
	// Each snippet imports the previous one twice: 2^30 tokens, or 2^30 imports of an empty snippet,
	// if nothing stopped it.
	for _, first := range []string{"(s0) {\n\tgzip\n}\n", "(s0) {\n}\n"} {
		var b strings.Builder
		b.WriteString(first)
		for i := 1; i <= 30; i++ {
			prev := strconv.Itoa(i - 1)
			b.WriteString("(s" + strconv.Itoa(i) + ") {\n\timport s" + prev + "\n\timport s" + prev + "\n}\n")
		}
		b.WriteString("a.com {\n\timport s30\n}\n")
		_, err := Parse("Casketfile", []byte(b.String()))
		if err == nil || !strings.Contains(err.Error(), "the configuration grows past") {
			t.Fatalf("got %v, want the token limit error", err)
		}
	}
}

func TestParseWarnNil(t *testing.T) {
	blocks, err := Parse("Casketfile", []byte("import nothing-matches-*\n\"\" {\n}\n"))
	if err != nil || len(blocks) != 0 {
		t.Errorf("got %v, %v", blocks, err)
	}
}

func TestParseImportsAreNotShared(t *testing.T) {
	fsys := fstest.MapFS{"a": {Data: []byte("x 1\ny 2\n")}}
	blocks, err := ParseWithOptions("C", []byte("s {\n\timport a\n}\n"), ParseOptions{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	first := blocks[0].Segments[0][0].Imports
	_ = append(first, "extra")
	if got := blocks[0].Segments[1][0].Imports; !reflect.DeepEqual(got, []string{"C:2"}) {
		t.Errorf("appending to one token's Imports changed another's: %v", got)
	}
}

func TestSegmentAndKeys(t *testing.T) {
	if (Segment{}).Directive() != "" {
		t.Error("empty segment has a directive")
	}
	blocks, err := Parse("C", []byte("a, b c {\n\tgzip on\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := blocks[0].KeyStrings(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("KeyStrings = %q", got)
	}
	if got := blocks[0].Segments[0].Directive(); got != "gzip" {
		t.Errorf("Directive = %q", got)
	}
}

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
