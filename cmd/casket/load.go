package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// source is a Casketfile as the loader found it, before parsing.
type source struct {
	Name     string // file name used for error messages and relative imports
	Body     []byte
	Path     string // absolute path of the file on disk ("" for stdin, shorthand and the default site)
	Origin   string // which loader produced it: "-conf", "stdin", "glob", "args", "Casketfile", "default"
	Reusable bool   // the same bytes must be reused on reload (stdin cannot be read twice)
}

// errLoadedTwice is the loader conflict of features.md §4.6.
var errLoadedTwice = errors.New("Casketfile loaded multiple times; use either -conf or shorthand arguments, not both")

// loader finds the Casketfile following Casket's precedence (features.md §4.6): -conf (a file, a glob,
// or "stdin" when stdin is a pipe) or positional shorthand lines (never both), else ./Casketfile, else
// the default site serving -root at -host:-port.
type loader struct {
	c           *config
	stdin       io.Reader
	stdinIsPipe bool
	dir         string // working directory, where ./Casketfile is looked for
}

// load runs the loader once.
func (l *loader) load() (source, error) {
	var (
		src   source
		found bool
		err   error
	)
	switch {
	case l.c.Conf == "stdin":
		if l.stdinIsPipe {
			src, err = l.fromStdin()
			found = true
		}
	case strings.Contains(l.c.Conf, "*"):
		src, err = l.fromGlob()
		found = true
	case l.c.Conf != "":
		src, err = l.fromFile(l.c.Conf, "-conf")
		found = true
	}
	if err != nil {
		return source{}, err
	}
	if len(l.c.Args) > 0 {
		if found {
			return source{}, errLoadedTwice
		}
		return l.fromArgs(), nil
	}
	if found {
		return src, nil
	}
	def := filepath.Join(l.dir, "Casketfile")
	if _, err := os.Stat(def); err == nil {
		return l.fromFile(def, "Casketfile")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return source{}, fmt.Errorf("reading Casketfile: %w", err)
	}
	return l.defaultSite(), nil
}

func (l *loader) fromFile(path, origin string) (source, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return source{}, fmt.Errorf("reading Casketfile: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return source{}, fmt.Errorf("reading Casketfile: %w", err)
	}
	name := path
	if origin == "Casketfile" {
		name = "Casketfile"
		if rel, err := filepath.Rel(l.dir, path); err == nil {
			name = rel
		}
	}
	return source{Name: name, Body: body, Path: abs, Origin: origin}, nil
}

func (l *loader) fromStdin() (source, error) {
	body, err := io.ReadAll(l.stdin)
	if err != nil {
		return source{}, fmt.Errorf("reading Casketfile from stdin: %w", err)
	}
	return source{Name: "stdin", Body: body, Origin: "stdin", Reusable: true}, nil
}

// fromGlob turns "-conf 'sites/*.conf'" into a one-line Casketfile importing the glob. The glob is made
// absolute so that it does not depend on the synthetic file's location.
func (l *loader) fromGlob() (source, error) {
	glob := l.c.Conf
	if !filepath.IsAbs(glob) {
		glob = filepath.Join(l.dir, glob)
	}
	body := "import " + strconv.Quote(glob) + "\n"
	return source{Name: filepath.Join(l.dir, "-conf"), Body: []byte(body), Origin: "glob"}, nil
}

// fromArgs builds the shorthand Casketfile of features.md §4.7: "host:port" then one line per argument.
func (l *loader) fromArgs() source {
	var b bytes.Buffer
	b.WriteString(net.JoinHostPort(l.c.Host, l.c.Port))
	b.WriteString("\n")
	for _, a := range l.c.Args {
		b.WriteString(a)
		b.WriteString("\n")
	}
	return source{Name: "args", Body: b.Bytes(), Origin: "args"}
}

// defaultSite is used when there is no Casketfile at all: serve -root at -host:-port. When -host is set
// and -port was left at its default, the address is the bare host so that automatic HTTPS may apply.
func (l *loader) defaultSite() source {
	addr := net.JoinHostPort(l.c.Host, l.c.Port)
	if l.c.Host != "" && !l.c.PortSet {
		addr = l.c.Host
	}
	if l.c.Host == "" {
		addr = ":" + l.c.Port
	}
	return source{Name: "default", Body: []byte(addr + "\n"), Origin: "default"}
}

// isPipe reports whether f is a pipe or a regular file redirected into the process (not a terminal).
func isPipe(f *os.File) bool {
	if f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	m := st.Mode()
	return m&os.ModeNamedPipe != 0 || m.IsRegular()
}

// loadEnvFile reads KEY=VALUE lines (blank lines and # comments allowed) and sets them in the
// environment through setenv. A line without "=" or with whitespace in the key is an error.
func loadEnvFile(path string, setenv func(k, v string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("loading env file: %w", err)
	}
	defer f.Close()
	return parseEnv(f, path, setenv)
}

func parseEnv(r io.Reader, name string, setenv func(k, v string) error) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: expected KEY=VALUE, got %q", name, n, line)
		}
		if k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("%s:%d: invalid variable name %q", name, n, k)
		}
		if err := setenv(k, v); err != nil {
			return fmt.Errorf("%s:%d: setting %s: %w", name, n, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}
