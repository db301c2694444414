package casketfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// maxTokens bounds the tokens a Casketfile may grow to through imports, each import counting as one
// token too, so that snippets importing each other several times cannot exhaust memory or time.
const maxTokens = 1 << 18

// origin is where a frame of tokens came from: a file or a snippet, and the origin that imported it.
type origin struct {
	key    string // identity for cycle detection: a file's resolved path, or "(name)" for a snippet
	name   string // shown in cycle errors
	parent *origin
}

// doImport consumes an import line and pushes the imported tokens onto the stream, so the next token read
// is the first imported one. The pattern is, in this order, a defined snippet's name, a glob or a file.
func (p *parser) doImport() error {
	imp := p.next()
	from := p.prevFrom
	var args []Token
	for !p.lineStart() {
		args = append(args, p.next())
	}
	if len(args) != 1 {
		return errAt(imp, "import takes exactly one argument (a file, a glob pattern or a snippet name), got %d", len(args))
	}
	pattern := substitute(args[0].Text, p.opts.Getenv)
	if pattern == "" {
		return errAt(imp, "import %q: the pattern is empty", args[0].Text)
	}
	chain := make([]string, 0, len(imp.Imports)+1)
	chain = append(chain, imp.File+":"+strconv.Itoa(imp.Line))
	chain = append(chain, imp.Imports...)

	if sn, ok := p.snippets[pattern]; ok {
		o := &origin{key: "(" + pattern + ")", name: "(" + pattern + ")", parent: from}
		if err := checkCycle(imp, pattern, o); err != nil {
			return err
		}
		tokens := make([]Token, len(sn.tokens))
		for i, t := range sn.tokens {
			t.Imports = chain
			tokens[i] = t
		}
		return p.push(imp, pattern, []*frame{{tokens: tokens, origin: o}})
	}

	names, err := p.match(imp, pattern)
	if err != nil {
		return err
	}
	frames := make([]*frame, 0, len(names))
	for _, name := range names {
		o := &origin{key: p.files.key(name), name: name, parent: from}
		if err := checkCycle(imp, pattern, o); err != nil {
			return err
		}
		src, err := p.files.readFile(name)
		if err != nil {
			return errAt(imp, "import %s: %v", pattern, err)
		}
		tokens, err := Tokenize(src, name)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Imports = chain
			}
			return err
		}
		for i := range tokens {
			tokens[i].Imports = chain
		}
		frames = append(frames, &frame{tokens: tokens, origin: o})
	}
	return p.push(imp, pattern, frames)
}

// push adds frames to the stream, the first one to be read first.
func (p *parser) push(imp Token, pattern string, frames []*frame) error {
	p.total++
	for _, f := range frames {
		p.total += len(f.tokens)
	}
	if p.total > maxTokens {
		return errAt(imp, "import %s: the configuration grows past %d tokens: look for snippets or files "+
			"imported many times over", pattern, maxTokens)
	}
	for i := len(frames) - 1; i >= 0; i-- {
		p.frames = append(p.frames, frames[i])
	}
	return nil
}

// checkCycle fails when o is already being imported further up its chain of origins.
func checkCycle(imp Token, pattern string, o *origin) error {
	for a := o.parent; a != nil; a = a.parent {
		if a.key != o.key {
			continue
		}
		var names []string
		for b := o; b != nil; b = b.parent {
			names = append(names, b.name)
		}
		for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
			names[i], names[j] = names[j], names[i]
		}
		return errAt(imp, "import %s: import cycle: %s", pattern, strings.Join(names, " -> "))
	}
	return nil
}

// match resolves an import pattern, relative to the importing file, to the files to read in order.
// A glob that matches nothing yields a warning and no files.
func (p *parser) match(imp Token, pattern string) ([]string, error) {
	if strings.Contains(pattern, "[") {
		return nil, errAt(imp, "import %s: character classes '[...]' are not supported in import patterns", pattern)
	}
	wild := strings.Count(pattern, "*") + strings.Count(pattern, "?")
	if wild > 1 {
		return nil, errAt(imp, "import %s: an import pattern may contain only one '*' or '?'", pattern)
	}
	full, err := p.files.resolve(imp.File, pattern)
	if err != nil {
		return nil, errAt(imp, "import %s: %v", pattern, err)
	}
	names := []string{full}
	if wild == 1 {
		if names, err = p.files.glob(full); err != nil {
			return nil, errAt(imp, "import %s: %v", pattern, err)
		}
		if len(names) == 0 {
			p.warn(errAt(imp, "import %s: no files match the pattern", pattern))
		}
	}
	for _, name := range names {
		info, err := p.files.stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(pattern, `/\.`):
			return nil, errAt(imp, "import %s: no snippet (%s) is defined before this line and no file %s exists",
				pattern, pattern, name)
		case errors.Is(err, fs.ErrNotExist):
			return nil, errAt(imp, "import %s: file %s does not exist", pattern, name)
		case err != nil:
			return nil, errAt(imp, "import %s: %v", pattern, err)
		case info.IsDir():
			return nil, errAt(imp, "import %s: %s is a directory: to import the files in it, write import %s",
				pattern, name, path.Join(pattern, "*"))
		case !info.Mode().IsRegular():
			return nil, errAt(imp, "import %s: %s is not a regular file", pattern, name)
		}
	}
	return names, nil
}

// importFS is where imported files are found: the operating system, or an fs.FS.
type importFS interface {
	resolve(from, pattern string) (string, error) // pattern relative to the directory of the file from
	glob(pattern string) ([]string, error)        // sorted matches
	stat(name string) (fs.FileInfo, error)
	readFile(name string) ([]byte, error)
	key(name string) string // identity of a file for cycle detection
}

// osFiles reads imports from the operating system's file system.
type osFiles struct{}

func (osFiles) resolve(from, pattern string) (string, error) {
	if filepath.IsAbs(pattern) {
		return filepath.Clean(pattern), nil
	}
	return filepath.Join(filepath.Dir(from), pattern), nil
}

func (osFiles) glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }
func (osFiles) stat(name string) (fs.FileInfo, error) { return os.Stat(name) }
func (osFiles) readFile(name string) ([]byte, error)  { return os.ReadFile(name) }

func (osFiles) key(name string) string {
	abs, err := filepath.Abs(name)
	if err != nil {
		return filepath.Clean(name)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// fsFiles reads imports from an fs.FS; names are slash-separated paths inside it.
type fsFiles struct{ fsys fs.FS }

func (fsFiles) resolve(from, pattern string) (string, error) {
	if path.IsAbs(pattern) {
		return "", fmt.Errorf("absolute paths cannot be imported here")
	}
	name := path.Join(path.Dir(from), pattern)
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("%s is outside the configuration's file system", name)
	}
	return name, nil
}

func (f fsFiles) glob(pattern string) ([]string, error) { return fs.Glob(f.fsys, pattern) }
func (f fsFiles) stat(name string) (fs.FileInfo, error) { return fs.Stat(f.fsys, name) }
func (f fsFiles) readFile(name string) ([]byte, error)  { return fs.ReadFile(f.fsys, name) }
func (fsFiles) key(name string) string                  { return path.Clean(name) }
