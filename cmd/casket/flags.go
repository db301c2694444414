package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// config holds every command-line flag of features.md §1.1 plus the positional shorthand lines.
type config struct {
	Agree                   bool
	CA                      string
	CATimeout               time.Duration
	Certs                   bool
	Check                   bool
	Conf                    string
	CPU                     string
	DefaultSNI              string
	DisableHTTPChallenge    bool
	DisableTLSALPNChallenge bool
	Email                   string
	Env                     bool
	EnvFile                 string
	Fmt                     bool
	Grace                   time.Duration
	Help                    bool
	Host                    string
	HTTPPort                string
	HTTPSPort               string
	HTTP2                   bool
	JSON                    bool
	Log                     string
	LogFormat               string
	LogLevel                string
	LogRollMB               int
	LogRollCompress         bool
	LogTimestamps           bool
	PidFile                 string
	Plugins                 bool
	Port                    string
	QUIC                    bool
	Quiet                   bool
	Revoke                  string
	Root                    string
	Type                    string
	Validate                bool
	Version                 bool

	// Args are the positional arguments: one shorthand Casketfile line each (features.md §4.7).
	Args []string
	// PortSet reports whether -port was given explicitly.
	PortSet bool
}

// defaultPort is the port of sites that name none, as in Casket.
const defaultPort = "2015"

// defaultCA is Let's Encrypt's production ACME directory.
const defaultCA = "https://acme-v02.api.letsencrypt.org/directory"

// errHelp is returned by parseFlags when -h/-help was given; usage has been printed.
var errHelp = errors.New("help requested")

// newFlagSet defines all flags on a fresh, local FlagSet bound to c.
func newFlagSet(c *config, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("casket", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.SortFlags = true
	fs.SetInterspersed(false) // like Go's flag package: flags end at the first shorthand line

	fs.BoolVar(&c.Agree, "agree", true, "agree to the CA's subscriber agreement")
	fs.StringVar(&c.CA, "ca", defaultCA, "URL of the ACME CA's directory")
	fs.DurationVar(&c.CATimeout, "catimeout", 30*time.Second, "timeout for HTTP requests to the ACME CA")
	fs.BoolVar(&c.Certs, "certs", false, "list the certificates in storage (names, issuer, expiry, renewal, OCSP, locks), then exit")
	fs.BoolVar(&c.Check, "check", false, "pre-flight check of the Casketfile (DNS, ports, CA, DNS credentials) without ordering anything, then exit")
	fs.StringVar(&c.Conf, "conf", "", "Casketfile to load: a path, a glob (imported), or \"stdin\" for a pipe")
	fs.StringVar(&c.CPU, "cpu", "100%", "CPU cap: a number of cores or a percentage (1%-100%)")
	fs.StringVar(&c.DefaultSNI, "default-sni", "", "server name to assume when a TLS client sends none")
	fs.BoolVar(&c.DisableHTTPChallenge, "disable-http-challenge", false, "disable the ACME HTTP-01 challenge")
	fs.BoolVar(&c.DisableTLSALPNChallenge, "disable-tls-alpn-challenge", false, "disable the ACME TLS-ALPN-01 challenge")
	fs.StringVar(&c.Email, "email", "", "default ACME account email address")
	fs.BoolVar(&c.Env, "env", false, "print the environment, then continue")
	fs.StringVar(&c.EnvFile, "envfile", "", "load KEY=VALUE lines from this file into the environment first")
	fs.BoolVar(&c.Fmt, "fmt", false, "print the Casketfile in canonical format and exit")
	fs.DurationVar(&c.Grace, "grace", 5*time.Second, "maximum time to drain connections on stop and reload")
	fs.BoolVarP(&c.Help, "help", "h", false, "print this help and exit")
	fs.StringVar(&c.Host, "host", "", "default host of sites that name none")
	fs.StringVar(&c.HTTPPort, "http-port", "80", "port treated as the HTTP port")
	fs.StringVar(&c.HTTPSPort, "https-port", "443", "port treated as the HTTPS port")
	fs.BoolVar(&c.HTTP2, "http2", true, "enable HTTP/2")
	fs.BoolVar(&c.JSON, "json", false, "with -certs: print JSON instead of a table")
	fs.StringVar(&c.Log, "log", "", "process log: a file path, \"stdout\" or \"stderr\"; empty discards it")
	fs.StringVar(&c.LogFormat, "log-format", "console", "process log encoding: console or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "process log level: debug, info, warn or error")
	fs.IntVar(&c.LogRollMB, "log-roll-mb", 100, "rotate the process log file at this size in MB; 0 disables rotation")
	fs.BoolVar(&c.LogRollCompress, "log-roll-compress", true, "gzip rotated process log files")
	fs.BoolVar(&c.LogTimestamps, "log-timestamps", true, "prefix process log lines with the time")
	fs.StringVar(&c.PidFile, "pidfile", "", "write the process id to this file (removed on exit)")
	fs.BoolVar(&c.Plugins, "plugins", false, "list the compiled-in directives, DNS providers and storage backends, then exit")
	fs.StringVar(&c.Port, "port", defaultPort, "default port of sites that name none")
	fs.BoolVar(&c.QUIC, "quic", false, "serve HTTP/3 over QUIC (experimental)")
	fs.BoolVar(&c.Quiet, "quiet", false, "do not print the start-up banner")
	fs.StringVar(&c.Revoke, "revoke", "", "revoke the managed certificate of this host name, then exit")
	fs.StringVar(&c.Root, "root", ".", "default document root of sites that name none")
	fs.StringVar(&c.Type, "type", "http", "server type (only http is built)")
	fs.BoolVar(&c.Validate, "validate", false, "parse the Casketfile and set up every site, bind nothing, then exit")
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")

	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: casket [flags] [shorthand Casketfile lines...]\n\nFlags (-name and --name are both accepted):\n%s", fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args (without the program name). Usage problems are returned as errors; -h prints the
// usage to out and returns errHelp.
func parseFlags(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := newFlagSet(c, out)
	if err := fs.Parse(normalizeArgs(fs, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if c.Help {
		fs.Usage()
		return nil, errHelp
	}
	c.Args = fs.Args()
	c.PortSet = fs.Changed("port")
	switch c.LogFormat {
	case "console", "json":
	default:
		return nil, fmt.Errorf("invalid -log-format %q: want console or json", c.LogFormat)
	}
	return c, nil
}

// normalizeArgs rewrites Casket's single-dash long flags ("-conf x", "-conf=x", "-agree=false") into
// pflag's double-dash form. It walks the arguments as the parser will, so a flag's value is never
// rewritten, and it stops at "--" or at the first positional argument (a shorthand Casketfile line).
func normalizeArgs(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return append(out, args[i:]...) // end of flags
		}
		body := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, _, hasValue := strings.Cut(body, "=")
		f := fs.Lookup(name)
		if f == nil {
			if len(name) == 1 && fs.ShorthandLookup(name) != nil {
				out = append(out, a) // a real shorthand such as -h
				continue
			}
			out = append(out, "--"+body) // let pflag report the unknown flag by its long name
			continue
		}
		out = append(out, "--"+body)
		if !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			out = append(out, args[i]) // the flag's value, verbatim even if it starts with '-'
		}
	}
	return out
}
