package casketfile

import (
	"io/fs"
	"os"
	"strings"
)

// ParseOptions adjusts how a Casketfile is read. The zero value reads imports from the operating system's
// file system, takes environment variables from the process and discards warnings.
type ParseOptions struct {
	// Warn receives problems that do not stop parsing, formatted "file:line: message", such as an
	// import glob that matches no file or an entry whose labels are all empty.
	Warn func(msg string)

	// FS, when set, is the only place imports are read from. File names are then slash-separated paths
	// inside FS (see fs.ValidPath), the file name given to the parser included; importing an absolute
	// path or a path that leaves FS is an error.
	FS fs.FS

	// Getenv looks up environment variables for {$NAME} and {%NAME%}; nil means os.Getenv.
	Getenv func(key string) string
}

// Parse reads the Casketfile src, named filename in error messages and used as the base for relative
// imports, and returns its server blocks in source order. Snippet definitions are not returned.
// Every error is an *Error that names a file and line.
func Parse(filename string, src []byte) ([]ServerBlock, error) {
	return ParseWithOptions(filename, src, ParseOptions{})
}

// ParseFile reads and parses the Casketfile at path. An error reading path itself is returned as the
// *fs.PathError from os.ReadFile; every other error is an *Error.
func ParseFile(path string) ([]ServerBlock, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// ParseWithOptions is Parse with options.
func ParseWithOptions(filename string, src []byte, opts ParseOptions) ([]ServerBlock, error) {
	tokens, err := Tokenize(src, filename)
	if err != nil {
		return nil, err
	}
	p := &parser{opts: opts, snippets: map[string]snippet{}, total: len(tokens)}
	if opts.FS != nil {
		p.files = fsFiles{opts.FS}
	} else {
		p.files = osFiles{}
	}
	if p.opts.Getenv == nil {
		p.opts.Getenv = os.Getenv
	}
	p.frames = []*frame{{tokens: tokens, origin: &origin{key: p.files.key(filename), name: filename}}}
	return p.run()
}

// parser turns a token stream into server blocks. Imports push a frame of tokens onto the stream, so the
// parser reads imported tokens as if they were written in place of the import line.
type parser struct {
	opts     ParseOptions
	files    importFS
	frames   []*frame
	prev     Token   // the token last returned by next
	prevFrom *origin // where prev came from
	started  bool    // whether next has returned a token yet
	total    int     // tokens read so far, imports included
	snippets map[string]snippet
	sawSite  bool // a site entry has been parsed
}

// frame is a list of tokens being read, all from one file or one snippet.
type frame struct {
	tokens []Token
	pos    int
	origin *origin
}

// snippet is a defined "(name) { ... }": its label and the tokens between the braces.
type snippet struct {
	label  Token
	tokens []Token
}

// peek returns the next token without consuming it; ok is false at the end of input.
func (p *parser) peek() (t Token, ok bool) {
	for len(p.frames) > 0 {
		f := p.frames[len(p.frames)-1]
		if f.pos < len(f.tokens) {
			return f.tokens[f.pos], true
		}
		p.frames = p.frames[:len(p.frames)-1]
	}
	return Token{}, false
}

// next consumes and returns the next token. The caller must have checked that there is one.
func (p *parser) next() Token {
	p.peek()
	f := p.frames[len(p.frames)-1]
	t := f.tokens[f.pos]
	f.pos++
	p.prev, p.prevFrom, p.started = t, f.origin, true
	return t
}

// lineStart reports whether the next token starts a new line. The end of input counts as one.
func (p *parser) lineStart() bool {
	t, ok := p.peek()
	if !ok || !p.started {
		return true
	}
	return p.frames[len(p.frames)-1].origin != p.prevFrom || !continuesLine(p.prev, t)
}

// atImport reports whether the next token is an import: an unquoted "import" that starts a line.
func (p *parser) atImport() bool {
	t, ok := p.peek()
	return ok && !t.Quoted && t.Text == "import" && p.lineStart()
}

// expand returns t with environment references substituted. A value never becomes a structural brace.
func (p *parser) expand(t Token) Token {
	text := substitute(t.Text, p.opts.Getenv)
	if text != t.Text && (text == "{" || text == "}") {
		t.Quoted = true
	}
	t.Text = text
	return t
}

func (p *parser) warn(e *Error) {
	if p.opts.Warn != nil {
		p.opts.Warn(e.Error())
	}
}

// run parses every entry of the input.
func (p *parser) run() ([]ServerBlock, error) {
	var blocks []ServerBlock
	for {
		if _, ok := p.peek(); !ok {
			return blocks, nil
		}
		if p.atImport() {
			if err := p.doImport(); err != nil {
				return nil, err
			}
			continue
		}
		sb, keep, err := p.entry()
		if err != nil {
			return nil, err
		}
		if keep {
			blocks = append(blocks, sb)
		}
	}
}

// entry parses one entry: a snippet definition or a site (labels and a body). keep is false for
// snippets and for sites whose labels are all empty.
func (p *parser) entry() (sb ServerBlock, keep bool, err error) {
	if t, _ := p.peek(); t.isBrace("{") {
		return sb, false, errAt(t, "unexpected '{': a block needs a site address or a (snippet) name before it")
	}
	labels, err := p.labels()
	if err != nil {
		return sb, false, err
	}
	first := labels[0]
	next, more := p.peek()
	braced := more && next.isBrace("{")
	if braced && p.lineStart() {
		return sb, false, errAt(next, "unexpected '{' at the start of a line: put it at the end of the label line")
	}

	if name, ok, err := snippetName(labels); err != nil {
		return sb, false, err
	} else if ok {
		return sb, false, p.defineSnippet(name, first, braced)
	}

	if p.sawSite && !braced {
		return sb, false, errAt(first, "%q has no block: when a Casketfile has several entries, "+
			"write each one as 'address {' ... '}'", first.Text)
	}
	p.sawSite = true
	if braced {
		open := p.next()
		if sb.Segments, err = p.body(&open); err != nil {
			return sb, false, err
		}
		if err := p.endOfEntry(); err != nil {
			return sb, false, err
		}
	} else if more {
		if sb.Segments, err = p.body(nil); err != nil {
			return sb, false, err
		}
	}
	for _, l := range labels {
		if l.Text != "" {
			sb.Keys = append(sb.Keys, l)
		}
	}
	if len(sb.Keys) == 0 {
		p.warn(errAt(first, "all labels of this entry are empty: skipping it"))
		return sb, false, nil
	}
	return sb, true, nil
}

// labels reads the labels of an entry: every token up to the end of the line or a '{', continuing on
// the next line after a label that ends with a comma. Labels are returned substituted, without their
// trailing comma, empty ones included; there is at least one.
func (p *parser) labels() ([]Token, error) {
	var labels []Token
	for {
		t := p.next()
		if t.isBrace("}") {
			return nil, errAt(t, "unexpected '}': no block is open")
		}
		if !t.Quoted && t.Text == "import" {
			return nil, errAt(t, "import cannot be a site label: write the import on a line of its own")
		}
		if !t.Quoted && t.Text == "{}" {
			return nil, errAt(t, "'{}' is read as a label: write an empty block with a space, as { }")
		}
		t = p.expand(t)
		expectMore := strings.HasSuffix(t.Text, ",")
		t.Text = strings.TrimSuffix(t.Text, ",")
		labels = append(labels, t)

		next, ok := p.peek()
		if !ok {
			if expectMore {
				return nil, errAt(t, "unexpected end of input: another label must follow the trailing ','")
			}
			return labels, nil
		}
		if next.isBrace("{") && (expectMore || !p.lineStart()) {
			if expectMore {
				return nil, errAt(next, "expected another label after ',' but found '{': check for extra comma")
			}
			return labels, nil
		}
		if !expectMore && p.lineStart() {
			return labels, nil
		}
	}
}

// snippetName reports whether labels define a snippet: a single unquoted label "(name)".
func snippetName(labels []Token) (string, bool, error) {
	for _, l := range labels {
		if l.Quoted || len(l.Text) < 2 || l.Text[0] != '(' || l.Text[len(l.Text)-1] != ')' {
			continue
		}
		if len(labels) > 1 {
			return "", false, errAt(l, "snippet %s must be the only label of its entry", l.Text)
		}
		name := l.Text[1 : len(l.Text)-1]
		if name == "" {
			return "", false, errAt(l, "empty snippet name: write (name) { ... }")
		}
		return name, true, nil
	}
	return "", false, nil
}

// defineSnippet stores the tokens of "(name) { ... }"; they are expanded when imported.
func (p *parser) defineSnippet(name string, label Token, braced bool) error {
	if !braced {
		return errAt(label, "snippet (%s) has no block: write (%s) { ... } with '{' on the same line", name, name)
	}
	if prev, dup := p.snippets[name]; dup {
		return errAt(label, "snippet (%s) is already defined at %s:%d", name, prev.label.File, prev.label.Line)
	}
	open := p.next()
	var body []Token
	for depth := 1; ; {
		if _, ok := p.peek(); !ok {
			return unclosed(open)
		}
		t := p.next()
		if t.isBrace("{") {
			depth++
		} else if t.isBrace("}") {
			if depth--; depth == 0 {
				break
			}
		}
		body = append(body, t)
	}
	p.snippets[name] = snippet{label: label, tokens: body}
	return p.endOfEntry()
}

// endOfEntry checks that nothing follows an entry's closing brace on its line.
func (p *parser) endOfEntry() error {
	if t, ok := p.peek(); ok && !p.lineStart() {
		return errAt(t, "unexpected %q after '}': start the next entry on a new line", t.Text)
	}
	return nil
}

// body reads directives up to the '}' matching open, or to the end of input when open is nil.
func (p *parser) body(open *Token) ([]Segment, error) {
	var segs []Segment
	for {
		t, ok := p.peek()
		switch {
		case !ok && open != nil:
			return nil, unclosed(*open)
		case !ok:
			return segs, nil
		case t.isBrace("}") && open == nil:
			return nil, errAt(t, "unexpected '}': no block is open")
		case t.isBrace("}"):
			p.next()
			return segs, nil
		case p.atImport():
			if err := p.doImport(); err != nil {
				return nil, err
			}
		case t.isBrace("{"):
			return nil, errAt(t, "unexpected '{': a block must open at the end of its directive's line")
		default:
			seg, err := p.directive()
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
		}
	}
}

// directive reads one directive: its line and any nested blocks, expanding imports inside the blocks.
// It stops before the next line at its own level or before a '}' that closes the enclosing block.
func (p *parser) directive() (Segment, error) {
	seg := Segment{p.expand(p.next())}
	var open []Token // unclosed '{' of nested blocks, innermost last
	for {
		t, ok := p.peek()
		if !ok {
			break
		}
		if len(open) == 0 && p.lineStart() {
			break
		}
		if len(open) > 0 && p.atImport() {
			if err := p.doImport(); err != nil {
				return nil, err
			}
			continue
		}
		if t.isBrace("}") {
			if len(open) == 0 {
				break
			}
			open = open[:len(open)-1]
		} else if t.isBrace("{") {
			open = append(open, t)
		}
		seg = append(seg, p.expand(p.next()))
	}
	if len(open) > 0 {
		return nil, unclosed(open[len(open)-1])
	}
	return seg, nil
}

// unclosed reports a '{' that has no matching '}'.
func unclosed(open Token) *Error {
	return errAt(open, "'{' is never closed: add the matching '}'")
}
