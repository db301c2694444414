package casketfile

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func newTestDispenser(t *testing.T, src string) *Dispenser {
	t.Helper()
	tokens, err := Tokenize([]byte(src), "Casketfile")
	if err != nil {
		t.Fatal(err)
	}
	return NewDispenser(tokens)
}

func TestDispenserCursor(t *testing.T) {
	d := newTestDispenser(t, "dir a b\nnext c")
	if d.Val() != "" || d.Line() != 0 || d.File() != "" || !reflect.DeepEqual(d.Token(), Token{}) {
		t.Fatalf("before Next: Val %q Line %d File %q", d.Val(), d.Line(), d.File())
	}
	var seen []string
	for d.Next() {
		seen = append(seen, fmt.Sprintf("%s@%d", d.Val(), d.Line()))
	}
	if want := []string{"dir@1", "a@1", "b@1", "next@2", "c@2"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("Next walked %v, want %v", seen, want)
	}
	if d.Next() || d.Val() != "c" {
		t.Errorf("Next past the end moved the cursor to %q", d.Val())
	}
	if !d.Prev() || d.Val() != "next" {
		t.Errorf("Prev: got %q, want next", d.Val())
	}
	d.Reset()
	if d.Val() != "" || !d.Next() || d.Val() != "dir" || d.File() != "Casketfile" {
		t.Errorf("after Reset and Next: %q in %q", d.Val(), d.File())
	}
	if d.Prev() {
		t.Error("Prev from the first token reported true")
	}
	if d.Prev() {
		t.Error("Prev before the first token reported true")
	}
}

func TestDispenserNextArgAndLine(t *testing.T) {
	d := newTestDispenser(t, "dir a b {\n  sub x\n}\nother")
	d.Next()
	if !d.NextArg() || d.Val() != "a" || !d.NextArg() || d.Val() != "b" {
		t.Fatalf("NextArg: got %q", d.Val())
	}
	if d.NextArg() {
		t.Errorf("NextArg entered the block: %q", d.Val())
	}
	if d.NextLine() {
		t.Errorf("NextLine moved to %q, which is on the same line", d.Val())
	}
	d.Next() // {
	if !d.NextLine() || d.Val() != "sub" {
		t.Errorf("NextLine: got %q, want sub", d.Val())
	}
	e := newTestDispenser(t, "")
	if e.NextLine() || e.Next() || e.NextArg() {
		t.Error("empty dispenser moved")
	}
	f := newTestDispenser(t, "only")
	if !f.NextLine() || f.Val() != "only" || f.NextLine() {
		t.Error("NextLine on a single token")
	}
}

func TestDispenserMultilineQuotedToken(t *testing.T) {
	d := newTestDispenser(t, "respond \"a\nb\" 200\nnext")
	d.Next()
	if got := d.RemainingArgs(); !reflect.DeepEqual(got, []string{"a\nb", "200"}) {
		t.Errorf("RemainingArgs: %q", got)
	}
	if !d.NextLine() || d.Val() != "next" {
		t.Errorf("NextLine: %q", d.Val())
	}
}

func TestDispenserArgs(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		targets   int
		wantArgs  bool
		wantAll   bool
		wantVals  []string
		remaining int
	}{
		{name: "exact", src: "dir a b", targets: 2, wantArgs: true, wantAll: true, wantVals: []string{"a", "b"}},
		{name: "too few", src: "dir a", targets: 2, wantArgs: false, wantAll: false, wantVals: []string{"a", ""}},
		{name: "too many", src: "dir a b c", targets: 2, wantArgs: true, wantAll: false, wantVals: []string{"a", "b"},
			remaining: 1},
		{name: "stops at block", src: "dir a {\n x\n}", targets: 2, wantArgs: false, wantAll: false,
			wantVals: []string{"a", ""}},
		{name: "stops at line", src: "dir a\nb", targets: 2, wantArgs: false, wantAll: false, wantVals: []string{"a", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, all := range []bool{false, true} {
				d := newTestDispenser(t, tt.src)
				d.Next()
				vals := make([]string, tt.targets)
				ptrs := make([]*string, tt.targets)
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				var got, want bool
				if all {
					got, want = d.AllArgs(ptrs...), tt.wantAll
				} else {
					got, want = d.Args(ptrs...), tt.wantArgs
				}
				if got != want {
					t.Errorf("all=%v: got %v, want %v", all, got, want)
				}
				if !reflect.DeepEqual(vals, tt.wantVals) {
					t.Errorf("all=%v: values %q, want %q", all, vals, tt.wantVals)
				}
				if n := d.CountRemainingArgs(); n != tt.remaining {
					t.Errorf("all=%v: CountRemainingArgs = %d, want %d", all, n, tt.remaining)
				}
			}
		})
	}
}

func TestDispenserRemainingArgs(t *testing.T) {
	d := newTestDispenser(t, "dir a \"b c\" \"\" {\n  x y\n}")
	d.Next()
	if n := d.CountRemainingArgs(); n != 3 {
		t.Errorf("CountRemainingArgs = %d, want 3", n)
	}
	if d.Val() != "dir" {
		t.Errorf("CountRemainingArgs moved the cursor to %q", d.Val())
	}
	if got := d.RemainingArgs(); !reflect.DeepEqual(got, []string{"a", "b c", ""}) {
		t.Errorf("RemainingArgs = %q", got)
	}
	if got := d.RemainingArgs(); got != nil {
		t.Errorf("second RemainingArgs = %q, want none", got)
	}
}

// walk records every NextBlock step of a two-level parse: sub-blocks named "nested" are entered with
// their own NextBlock loop.
func walk(d *Dispenser) []string {
	var steps []string
	for d.Next() {
		steps = append(steps, "dir "+d.Val())
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			steps = append(steps, fmt.Sprintf("%d:%s", d.Nesting(), d.Val()))
			if d.Val() == "nested" {
				for inner := d.Nesting(); d.NextBlock(inner); {
					steps = append(steps, fmt.Sprintf("%d:%s", d.Nesting(), d.Val()))
				}
			}
		}
	}
	return steps
}

func TestDispenserNextBlock(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{name: "no block: the line's arguments are skipped", src: "dir a b\nnext", want: []string{"dir dir", "dir next"}},
		{name: "empty block", src: "dir { }", want: []string{"dir dir"}},
		{name: "simple block", src: "dir a {\n x 1\n y\n}",
			want: []string{"dir dir", "1:x", "1:1", "1:y"}},
		{name: "one line block", src: "dir { x }", want: []string{"dir dir", "1:x"}},
		{name: "nested handled", src: "dir {\n nested {\n  deep 1\n }\n after\n}",
			want: []string{"dir dir", "1:nested", "2:deep", "2:1", "1:after"}},
		{name: "nested empty", src: "dir {\n nested { }\n after\n}",
			want: []string{"dir dir", "1:nested", "1:after"}},
		{name: "unterminated block", src: "dir {", want: []string{"dir dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := walk(newTestDispenser(t, tt.src)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDispenserNextBlockUnhandledSubBlock(t *testing.T) {
	// A loop that does not descend into a sub-block sees its braces and contents at a deeper nesting,
	// and still ends at the directive's own closing brace.
	d := newTestDispenser(t, "dir {\n sub {\n  x\n }\n y\n}\nnext")
	d.Next()
	var got []string
	for d.NextBlock(0) {
		got = append(got, fmt.Sprintf("%d:%s", d.Nesting(), d.Val()))
	}
	want := []string{"1:sub", "2:{", "2:x", "1:}", "1:y"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if d.Nesting() != 0 || d.Val() != "}" || !d.Next() || d.Val() != "next" {
		t.Errorf("after the block: nesting %d at %q", d.Nesting(), d.Val())
	}
}

func TestDispenserErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		move int // Next calls before the error
		err  func(d *Dispenser) error
		want string
	}{
		{name: "Errf", src: "header / X-A\n", move: 2, err: func(d *Dispenser) error { return d.Errf("bad %s", "path") },
			want: "Casketfile:1: header: bad path"},
		{name: "Errf before Next", src: "\n\nheader", move: 0, err: func(d *Dispenser) error { return d.Errf("x") },
			want: "Casketfile:3: header: x"},
		{name: "Errf past the end", src: "gzip a\nb", move: 9, err: func(d *Dispenser) error { return d.Errf("x") },
			want: "Casketfile:2: gzip: x"},
		{name: "ArgErr", src: "gzip a b", move: 3, err: (*Dispenser).ArgErr,
			want: `Casketfile:1: gzip: wrong argument count or unexpected line ending after "b"`},
		{name: "ArgErr at brace", src: "gzip\n{", move: 2, err: (*Dispenser).ArgErr,
			want: "Casketfile:2: gzip: unexpected token '{': the block must open at the end of the line it belongs to"},
		{name: "SyntaxErr", src: "gzip x", move: 2, err: func(d *Dispenser) error { return d.SyntaxErr("a level") },
			want: `Casketfile:1: gzip: syntax error: unexpected token "x", expecting a level`},
		{name: "EOFErr", src: "gzip", move: 1, err: (*Dispenser).EOFErr,
			want: "Casketfile:1: gzip: unexpected end of input"},
		{name: "WrapErr", src: "tls cert key", move: 2, err: func(d *Dispenser) error {
			return d.WrapErr(errors.New("open cert: no such file"))
		}, want: "Casketfile:1: tls: open cert: no such file"},
		{name: "WrapErr keeps *Error", src: "tls", move: 1, err: func(d *Dispenser) error {
			return d.WrapErr(&Error{File: "other", Line: 9, Msg: "kept"})
		}, want: "other:9: kept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDispenser(t, tt.src)
			for range tt.move {
				d.Next()
			}
			err := tt.err(d)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T, want *Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("got  %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestDispenserImportedErrorsNameTheChain(t *testing.T) {
	fsys := fstest.MapFS{"sites/blog": {Data: []byte("blog.com {\n\tgzip\n\tredir / x y z w\n}\n")}}
	blocks, err := ParseWithOptions("Casketfile", []byte("\nimport sites/blog\n"), ParseOptions{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispenser(blocks[0].Segments[1])
	d.Next()
	d.Args(new(string), new(string))
	err = d.Errf("too many arguments")
	want := "sites/blog:3: redir: too many arguments (imported from Casketfile:2)"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestDispenserSeparatesRepeatedPastes(t *testing.T) {
	// The same snippet pasted twice in a block has the same file and line both times; the dispenser
	// must still see two lines.
	src := "(h) {\n\theader_upstream X-A b\n}\na.com {\n\tproxy / x {\n\t\timport h\n\t\timport h\n\t}\n}\n"
	blocks, err := Parse("Casketfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispenser(blocks[0].Segments[0])
	d.Next()
	var lines []string
	for d.NextBlock(0) {
		lines = append(lines, d.Val()+" "+strings.Join(d.RemainingArgs(), " "))
	}
	want := []string{"header_upstream X-A b", "header_upstream X-A b"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got %q, want %q", lines, want)
	}
}
