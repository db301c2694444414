package casketfile

import (
	"fmt"
	"testing"
	"testing/fstest"
)

// fuzzFS is the only file system fuzzed parses can import from: a few files that import each other,
// including a cycle, a glob directory and a snippet file. The fuzzed input itself is "Casketfile".
func fuzzFS(src []byte) fstest.MapFS {
	return fstest.MapFS{
		"Casketfile":     {Data: src},
		"a.conf":         {Data: []byte("import b.conf\n")},
		"b.conf":         {Data: []byte("import a.conf\n")},
		"sites/one.conf": {Data: []byte("one.com {\n\tgzip\n}\n")},
		"sites/two.conf": {Data: []byte("two.com {\n\timport ../snip.conf\n\tproxy / x {\n\t\ttransparent\n\t}\n}\n")},
		"snip.conf":      {Data: []byte("(s) {\n\tlog stdout\n}\nheader / X-A b\n")},
		"body.conf":      {Data: []byte("gzip\n}\n")},
	}
}

var fuzzEnv = map[string]string{"HOST": "example.com", "BRACE": "{", "SPACE": "a b", "DIR": "sites"}

func fuzzParse(src []byte) ([]ServerBlock, error) {
	return ParseWithOptions("Casketfile", src, ParseOptions{
		FS:     fuzzFS(src),
		Getenv: func(k string) string { return fuzzEnv[k] },
		Warn:   func(string) {},
	})
}

func addSeeds(f *testing.F) {
	for _, src := range testdataInputs(f) {
		f.Add(src)
	}
	f.Add([]byte("import a.conf\n"))
	f.Add([]byte("import sites/*\nc.com {\n\timport s\n}\n"))
	f.Add([]byte("import snip.conf\nc.com {\n\timport s\n\timport body.conf\n"))
	f.Add([]byte("{$HOST} {\n\ttext {$BRACE} \"{$SPACE}\"\n}\n"))
}

func FuzzTokenize(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		tokens, err := Tokenize(src, "f")
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Line < 1 || e.File != "f" {
				t.Fatalf("error %T %v is not an *Error with a file and line", err, err)
			}
			return
		}
		for i, tk := range tokens {
			if tk.Line < 1 || tk.File != "f" {
				t.Fatalf("token %d %+v has no place", i, tk)
			}
			if i > 0 && tk.Line < tokens[i-1].Line {
				t.Fatalf("token %d goes back from line %d to %d", i, tokens[i-1].Line, tk.Line)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		blocks, err := fuzzParse(src)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Line < 1 || e.File == "" {
				t.Fatalf("error %T %v is not an *Error with a file and line", err, err)
			}
			return
		}
		if err := checkBlocks(blocks); err != nil {
			t.Fatal(err)
		}
		// Formatting keeps the meaning: the formatted file parses to the same texts.
		again, err := fuzzParse(Format(src))
		if err != nil {
			t.Fatalf("formatted input fails to parse: %v", err)
		}
		if got, want := texts(again), texts(blocks); got != want {
			t.Fatalf("formatting changed the result:\nbefore %s\nafter  %s", want, got)
		}
	})
}

func FuzzFormat(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := checkFormat(src); err != nil {
			t.Fatal(err)
		}
	})
}

// checkBlocks verifies what the parser promises about its result.
func checkBlocks(blocks []ServerBlock) error {
	for i, sb := range blocks {
		if len(sb.Keys) == 0 {
			return fmt.Errorf("block %d has no keys", i)
		}
		for _, k := range sb.Keys {
			if k.Text == "" || k.Line < 1 || k.File == "" {
				return fmt.Errorf("block %d has key %+v", i, k)
			}
		}
		for _, seg := range sb.Segments {
			if len(seg) == 0 {
				return fmt.Errorf("block %d has an empty segment", i)
			}
			depth := 0
			for _, tk := range seg {
				if tk.Line < 1 || tk.File == "" {
					return fmt.Errorf("token %+v has no place", tk)
				}
				if tk.isBrace("{") {
					depth++
				} else if tk.isBrace("}") {
					depth--
				}
				if depth < 0 {
					return fmt.Errorf("segment %q closes a block it did not open", seg.Directive())
				}
			}
			if depth != 0 {
				return fmt.Errorf("segment %q leaves %d blocks open", seg.Directive(), depth)
			}
			if seg[0].isBrace("{") || seg[0].isBrace("}") {
				return fmt.Errorf("segment starts with a brace")
			}
		}
	}
	return nil
}

// texts renders blocks without places, to compare parses of differently laid out sources.
func texts(blocks []ServerBlock) string {
	var s string
	for _, sb := range blocks {
		s += fmt.Sprintf("%q:", sb.KeyStrings())
		for _, seg := range sb.Segments {
			for _, tk := range seg {
				s += fmt.Sprintf(" %q/%v", tk.Text, tk.Quoted)
			}
			s += ";"
		}
		s += "\n"
	}
	return s
}
