// Package on implements the `on` directive, which runs a command when the server starts (every start,
// reloads included), when the process shuts down, or when a certificate is renewed:
//
//	on startup|shutdown|certrenew command [args...] [&]
//
// A trailing & starts the command without waiting for it. The process owns one Hooks value: it passes
// Hooks.Context(ctx) to every Instance.Start and then calls Hooks.Started with that context, calls
// Hooks.Shutdown before stopping, and has the TLS manager call Hooks.CertRenewed after each renewal.
package on

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// The events a command can be attached to.
const (
	Startup   = "startup"
	Shutdown  = "shutdown"
	CertRenew = "certrenew"
)

// Command is one parsed `on` directive.
type Command struct {
	Event      string   // Startup, Shutdown or CertRenew
	Name       string   // the program to run
	Args       []string // its arguments; placeholders are expanded when it runs
	Background bool     // a trailing &: start it and do not wait

	// Where is the directive's place in the Casketfile ("file:line" plus the import chain). The same
	// place seen in several sites of one server block runs once.
	Where string
}

// String returns the command line as written, for logs.
func (c Command) String() string {
	s := strings.Join(append([]string{c.Name}, c.Args...), " ")
	if c.Background {
		s += " &"
	}
	return s
}

// Setup parses `on event command [args...] [&]`. A single quoted argument holding spaces is split into
// the command and its arguments (Caddy v1 style: on startup "php-fpm --nodaemonize").
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	c, err := parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler { return &Handler{Next: next, Command: c} }, nil
}

func parse(d *casketfile.Dispenser) (Command, error) {
	d.Next() // directive name
	tok := d.Token()
	c := Command{Where: fmt.Sprintf("%s:%d %v", tok.File, tok.Line, tok.Imports)}
	if !d.NextArg() {
		return c, d.Errf("expected an event (startup, shutdown or certrenew) and a command")
	}
	c.Event = d.Val()
	switch c.Event {
	case Startup, Shutdown, CertRenew:
	default:
		return c, d.Errf("unknown event %q (expected startup, shutdown or certrenew)", c.Event)
	}
	var words []string
	var lastQuoted bool
	for d.NextArg() {
		words = append(words, d.Val())
		lastQuoted = d.Token().Quoted
	}
	if len(words) == 1 && strings.ContainsFunc(words[0], unicode.IsSpace) {
		split, err := splitCommand(words[0])
		if err != nil {
			return c, d.Errf("%v", err)
		}
		words, lastQuoted = split, false
	}
	if n := len(words); n > 0 && words[n-1] == "&" && !lastQuoted {
		c.Background = true
		words = words[:n-1]
	}
	if len(words) == 0 {
		return c, d.Errf("expected a command to run on %s", c.Event)
	}
	c.Name, c.Args = words[0], words[1:]
	if d.NextBlock(0) {
		return c, d.Errf("takes no block")
	}
	return c, nil
}

// splitCommand splits s at unquoted white space; double or single quotes group words and are removed.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in command %q", quote, s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
