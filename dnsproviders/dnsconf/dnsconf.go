// Package dnsconf reads the settings of a DNS provider from the `dns NAME { option value }` block of the
// Casketfile and from the environment, where every variable X may also be given as X_FILE (the path of a
// file holding the value, as with Docker secrets). Errors name the provider and the variables to set, and
// never contain a value.
package dnsconf

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Config is what a provider constructor receives.
type Config struct {
	Provider string            // the provider name, for messages
	Options  map[string]string // from the Casketfile block; keys are matched case-insensitively
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile reads X_FILE files; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Reader collects settings one by one and reports every problem at once from Err.
type Reader struct {
	c       Config
	used    map[string]bool
	missing []string
	bad     []string
}

// Env reads one environment variable through LookupEnv (for settings that are paths other libraries read).
func (c Config) Env(name string) (string, bool) {
	if c.LookupEnv == nil {
		return os.LookupEnv(name)
	}
	return c.LookupEnv(name)
}

// Reader starts reading c.
func (c Config) Reader() *Reader {
	return &Reader{c: c, used: make(map[string]bool)}
}

// Required returns the value of the block option (or of any of the variables, in order, as X or X_FILE)
// and records it as missing when there is none.
func (r *Reader) Required(option string, vars ...string) string {
	v, ok := r.lookup(option, vars)
	if !ok {
		r.missing = append(r.missing, describe(option, vars))
	}
	return v
}

// Optional is Required with a default instead of an error.
func (r *Reader) Optional(option, def string, vars ...string) string {
	if v, ok := r.lookup(option, vars); ok {
		return v
	}
	return def
}

// Invalid records a malformed setting; what explains the expected form and must not contain the value.
func (r *Reader) Invalid(option, what string) {
	r.bad = append(r.bad, option+": "+what)
}

// Err reports missing and malformed settings and block options no one asked for.
func (r *Reader) Err() error {
	var unknown []string
	for k := range r.c.Options {
		if !r.used[strings.ToLower(k)] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	var parts []string
	if len(r.missing) > 0 {
		parts = append(parts, "missing credentials or settings: set "+strings.Join(r.missing, "; and "))
	}
	if len(r.bad) > 0 {
		parts = append(parts, "invalid settings: "+strings.Join(r.bad, "; "))
	}
	if len(unknown) > 0 {
		parts = append(parts, "unknown option(s) in the dns block: "+strings.Join(unknown, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("dns %s: %s", r.c.Provider, strings.Join(parts, "; "))
}

// lookup finds option in the block (by its own name or by any variable name), then the variables in the
// environment, each as X then X_FILE.
func (r *Reader) lookup(option string, vars []string) (string, bool) {
	names := append([]string{option}, vars...)
	for _, n := range names {
		if n == "" {
			continue
		}
		r.used[strings.ToLower(n)] = true
		r.used[strings.ToLower(n)+"_file"] = true
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		for k, v := range r.c.Options {
			if strings.EqualFold(k, n) && v != "" {
				return v, true
			}
			if strings.EqualFold(k, n+"_file") {
				return r.file(k, v)
			}
		}
	}
	env := r.c.Env
	for _, n := range vars {
		if v, ok := env(n); ok && v != "" {
			return v, true
		}
		if f, ok := env(n + "_FILE"); ok && f != "" {
			return r.file(n+"_FILE", f)
		}
	}
	return "", false
}

// file reads the value of a *_FILE setting; name is the setting, for the message.
func (r *Reader) file(name, path string) (string, bool) {
	read := r.c.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		r.bad = append(r.bad, fmt.Sprintf("%s: reading %s: %v", name, path, err))
		return "", true
	}
	return strings.TrimRight(string(data), "\r\n"), true
}

// describe spells out how to give a setting: "CF_DNS_API_TOKEN (or CF_DNS_API_TOKEN_FILE, ...) or option x".
func describe(option string, vars []string) string {
	var alts []string
	for _, v := range vars {
		alts = append(alts, v, v+"_FILE")
	}
	s := strings.Join(alts, " or ")
	if option != "" {
		if s != "" {
			s += ", or "
		}
		s += "'" + option + "' in the dns block"
	}
	return s
}
