package casketfile

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// Regenerate the expected output after an intended change with: go test ./casketfile -run Golden -update
var update = flag.Bool("update", false, "rewrite the expected sections of testdata/*/*.txtar")

// archive is a txtar file: a comment, then files introduced by "-- name --" lines.
type archive struct {
	comment string
	files   []archiveFile
}

type archiveFile struct {
	name string
	data []byte
}

func parseArchive(data []byte) archive {
	var a archive
	cur := -1
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			a.files = append(a.files, archiveFile{name: strings.TrimSpace(trimmed[3 : len(trimmed)-3])})
			cur = len(a.files) - 1
			continue
		}
		if cur < 0 {
			a.comment += line
		} else {
			a.files[cur].data = append(a.files[cur].data, line...)
		}
	}
	return a
}

func (a archive) format() []byte {
	var b bytes.Buffer
	b.WriteString(a.comment)
	for _, f := range a.files {
		fmt.Fprintf(&b, "-- %s --\n", f.name)
		b.Write(f.data)
		if len(f.data) > 0 && f.data[len(f.data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func (a archive) get(name string) ([]byte, bool) {
	for _, f := range a.files {
		if f.name == name {
			return f.data, true
		}
	}
	return nil, false
}

func (a *archive) set(name string, data []byte) {
	for i := range a.files {
		if a.files[i].name == name {
			a.files[i].data = data
			return
		}
	}
	a.files = append(a.files, archiveFile{name: name, data: data})
}

// env returns the variables set by "env NAME=value" lines of the archive's comment.
func (a archive) env() map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(a.comment, "\n") {
		if rest, ok := strings.CutPrefix(line, "env "); ok {
			name, value, _ := strings.Cut(rest, "=")
			vars[name] = value
		}
	}
	return vars
}

// golden runs check on every archive in testdata/dir. check returns the text expected in the archive's
// "want" file; with -update it is written there.
func golden(t *testing.T, dir string, check func(t *testing.T, a archive) string) {
	abs, err := filepath.Abs(filepath.Join("testdata", dir)) // check may change the working directory
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(abs, "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files in testdata/%s: %v", dir, err)
	}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			a := parseArchive(data)
			got := check(t, a)
			want, _ := a.get("want")
			if *update {
				a.set("want", []byte(got))
				if err := os.WriteFile(p, a.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestParseGolden parses the Casketfile of each testdata/parse and testdata/errors archive, the other
// files of the archive being importable, and compares the server blocks (or the error) and warnings with
// its "want" file. Each archive is parsed twice, from an fs.FS and from the real file system, with the
// same result.
func TestParseGolden(t *testing.T) {
	for _, dir := range []string{"parse", "errors"} {
		t.Run(dir, func(t *testing.T) { golden(t, dir, parseArchiveCase) })
	}
}

func parseArchiveCase(t *testing.T, a archive) string {
	{
		src, ok := a.get("Casketfile")
		if !ok {
			t.Fatal("archive has no Casketfile")
		}
		vars := a.env()

		mfs := fstest.MapFS{}
		for _, f := range a.files {
			if f.name != "want" {
				mfs[f.name] = &fstest.MapFile{Data: f.data}
			}
		}
		var warnings []string
		blocks, err := ParseWithOptions("Casketfile", src, ParseOptions{
			FS:     mfs,
			Warn:   func(msg string) { warnings = append(warnings, msg) },
			Getenv: func(k string) string { return vars[k] },
		})
		fromFS := dump(blocks, err, warnings)

		dir := t.TempDir()
		for _, f := range a.files {
			if f.name == "want" {
				continue
			}
			name := filepath.Join(dir, filepath.FromSlash(f.name))
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Chdir(dir)
		for k, v := range vars {
			t.Setenv(k, v)
		}
		warnings = nil
		blocks, err = ParseWithOptions("Casketfile", src, ParseOptions{
			Warn: func(msg string) { warnings = append(warnings, msg) },
		})
		if fromOS := dump(blocks, err, warnings); fromOS != fromFS {
			t.Errorf("the real file system gives:\n%s\nbut fs.FS gives:\n%s", fromOS, fromFS)
		}
		return fromFS
	}
}

// dump prints a parse result: warnings, then the error or each block's labels and segments. Tokens are
// grouped by source line, each line prefixed with "file:line" and the import chain in brackets.
func dump(blocks []ServerBlock, err error, warnings []string) string {
	var b strings.Builder
	for _, w := range warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			fmt.Fprintf(&b, "error of type %T: %v\n", err, err)
		} else {
			fmt.Fprintf(&b, "error: %v\n", err)
		}
		return b.String()
	}
	for i, sb := range blocks {
		fmt.Fprintf(&b, "block %d\n", i)
		dumpTokens(&b, "keys", sb.Keys)
		for _, seg := range sb.Segments {
			dumpTokens(&b, "segment "+seg.Directive(), seg)
		}
	}
	if len(blocks) == 0 {
		b.WriteString("no blocks\n")
	}
	return b.String()
}

func dumpTokens(b *strings.Builder, title string, tokens []Token) {
	fmt.Fprintf(b, "  %s\n", title)
	for i, t := range tokens {
		if i == 0 || !continuesLine(tokens[i-1], t) {
			if i > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(b, "    %s:%d", t.File, t.Line)
			if len(t.Imports) > 0 {
				fmt.Fprintf(b, " [%s]", strings.Join(t.Imports, " < "))
			}
			b.WriteByte(':')
		}
		b.WriteByte(' ')
		b.WriteString(showToken(t))
	}
	if len(tokens) > 0 {
		b.WriteByte('\n')
	}
}

// showToken prints a quoted token in Go quotes and an unquoted one as is, or in backquotes when it is
// empty or has spaces or quotes.
func showToken(t Token) string {
	switch {
	case t.Quoted:
		return strconv.Quote(t.Text)
	case t.Text == "" || strings.ContainsAny(t.Text, " \t\n\"`"):
		return "`" + t.Text + "`"
	}
	return t.Text
}
