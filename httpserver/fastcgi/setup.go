// Package fastcgi implements the `fastcgi` directive: requests under a base path are answered by a
// FastCGI responder such as PHP-FPM, through Casket's own FastCGI client.
package fastcgi

import (
	"net"
	"strings"
	"time"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// DefaultTimeout is the default of connect_timeout, read_timeout and send_timeout.
const DefaultTimeout = 60 * time.Second

// Endpoint is one FastCGI server address.
type Endpoint struct {
	Network string // "tcp" or "unix"
	Address string // host:port or socket path
}

// Config is one parsed `fastcgi` directive.
type Config struct {
	Path       string     // base path
	Endpoints  []Endpoint // tried in turn
	Root       string     // document root; "" means the site root
	Ext        string     // requests for existing files are sent only when they end with Ext
	Split      []string   // the script name ends at the first of these (".php"); the rest is PATH_INFO
	IndexFiles []string   // tried for requests ending in "/"
	Env        [][2]string
	Except     []string

	ConnectTimeout time.Duration
	ReadTimeout    time.Duration // between two reads from the FastCGI server
	SendTimeout    time.Duration // for each write to the FastCGI server
}

// Setup parses `fastcgi path endpoint [php] { ... }`. It is pure; the root is resolved by Provision.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	cfg, err := Parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler { return New(next, cfg) }, nil
}

// Parse reads one `fastcgi` directive.
func Parse(d *casketfile.Dispenser) (*Config, error) {
	cfg := &Config{ConnectTimeout: DefaultTimeout, ReadTimeout: DefaultTimeout, SendTimeout: DefaultTimeout}
	if !d.Next() {
		return nil, d.ArgErr()
	}
	args := d.RemainingArgs()
	if len(args) < 2 || len(args) > 3 {
		return nil, d.Errf("want `fastcgi path endpoint [php]`, got %d arguments", len(args))
	}
	cfg.Path = args[0]
	ep, err := parseEndpoint(args[1])
	if err != nil {
		return nil, d.Errf("%v", err)
	}
	cfg.Endpoints = append(cfg.Endpoints, ep)
	if len(args) == 3 {
		if args[2] != "php" {
			return nil, d.Errf("unknown preset %q: the only preset is php", args[2])
		}
		cfg.Ext, cfg.Split, cfg.IndexFiles = ".php", []string{".php"}, []string{"index.php"}
	}
	for d.NextBlock(0) {
		name := d.Val()
		args := d.RemainingArgs()
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.Errf("%s takes one argument, got %d", name, len(args))
			}
			return args[0], nil
		}
		switch name {
		case "root":
			cfg.Root, err = one()
		case "ext":
			cfg.Ext, err = one()
		case "split":
			if len(args) == 0 {
				return nil, d.Errf("split needs at least one extension, e.g. .php")
			}
			cfg.Split = args
		case "index":
			if len(args) == 0 {
				return nil, d.Errf("index needs at least one file name")
			}
			cfg.IndexFiles = args
		case "env":
			if len(args) != 2 {
				return nil, d.Errf("env takes a name and a value, got %d arguments", len(args))
			}
			cfg.Env = append(cfg.Env, [2]string{args[0], args[1]})
		case "except":
			if len(args) == 0 {
				return nil, d.Errf("except needs at least one path")
			}
			cfg.Except = append(cfg.Except, args...)
		case "upstream":
			if len(args) == 0 {
				return nil, d.Errf("upstream needs at least one endpoint")
			}
			for _, a := range args {
				ep, err := parseEndpoint(a)
				if err != nil {
					return nil, d.Errf("%v", err)
				}
				cfg.Endpoints = append(cfg.Endpoints, ep)
			}
		case "connect_timeout", "read_timeout", "send_timeout":
			var v string
			if v, err = one(); err != nil {
				return nil, err
			}
			dur, perr := time.ParseDuration(v)
			if perr != nil || dur <= 0 {
				return nil, d.Errf("%s: invalid duration %q (use e.g. 30s)", name, v)
			}
			switch name {
			case "connect_timeout":
				cfg.ConnectTimeout = dur
			case "read_timeout":
				cfg.ReadTimeout = dur
			default:
				cfg.SendTimeout = dur
			}
		default:
			return nil, d.Errf("unknown option %q", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if cfg.Ext != "" && !strings.HasPrefix(cfg.Ext, ".") {
		return nil, d.Errf("ext must start with a dot, got %q", cfg.Ext)
	}
	return cfg, nil
}

// parseEndpoint accepts host:port, tcp://host:port, unix:/path and unix:///path.
func parseEndpoint(s string) (Endpoint, error) {
	if sock, ok := strings.CutPrefix(s, "unix:"); ok {
		sock = strings.TrimPrefix(sock, "//")
		if sock == "" {
			return Endpoint{}, errf("endpoint %q needs a socket path", s)
		}
		return Endpoint{Network: "unix", Address: sock}, nil
	}
	hp := strings.TrimPrefix(s, "tcp://")
	host, port, err := net.SplitHostPort(hp)
	if err != nil || port == "" {
		return Endpoint{}, errf("endpoint %q: want host:port or unix:/path/to/socket", s)
	}
	return Endpoint{Network: "tcp", Address: net.JoinHostPort(host, port)}, nil
}
