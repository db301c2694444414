// Package proxy implements the `proxy` directive: a reverse proxy and load balancer with load-balancing
// policies, passive and active health checks, retries, header rules, WebSocket and streaming support.
package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Defaults of the options (features.md §2.3).
const (
	DefaultTryInterval    = 250 * time.Millisecond
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 60 * time.Second
	DefaultDialTimeout    = 30 * time.Second
	DefaultFallbackDelay  = 300 * time.Millisecond
	// DefaultKeepAlive is the number of idle connections kept per upstream when `keepalive` is not used.
	// Go's default (2) makes a busy proxy open a connection for most requests; 64 does not.
	DefaultKeepAlive = 64
)

// Config is one parsed `proxy` directive.
type Config struct {
	From      string   // base path
	Except    []string // base paths not proxied
	Without   string   // prefix stripped before forwarding
	Upstreams []*Upstream
	SRV       *SRVUpstream // set instead of Upstreams for srv:// and srv+https://

	Policy string   // random (default), least_conn, round_robin, first, ip_hash, uri_hash, header
	Hashed []string // header names hashed by the header policy

	FailTimeout time.Duration // 0: failures are not remembered
	MaxFails    int32         // failures within FailTimeout that mark an upstream down (default 1)
	MaxConns    int64         // concurrent requests per upstream; 0 means no limit
	TryDuration time.Duration // 0: no retries
	TryInterval time.Duration

	HealthPath     string
	HealthPort     string
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthContains string

	KeepAlive          int // idle connections per upstream; 0 disables keep-alive
	DialTimeout        time.Duration
	FallbackDelay      time.Duration
	InsecureSkipVerify bool
	CACertificates     []string
	ClientCert         string
	ClientKey          string

	Transparent bool
	WebSocket   bool // accepted for compatibility: upgrades always pass through

	UpstreamOps   []HeaderOp
	DownstreamOps []HeaderOp
}

// Setup parses `proxy from to... { ... }` and returns the proxy middleware. It is pure: transports,
// certificates and health checks are prepared by Provision.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	cfg, err := Parse(d)
	if err != nil {
		return nil, err
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return New(next, cfg)
	}, nil
}

// Parse reads one `proxy` directive into a Config with defaults filled in.
func Parse(d *casketfile.Dispenser) (*Config, error) {
	cfg := &Config{
		MaxFails:       1,
		TryInterval:    DefaultTryInterval,
		HealthInterval: DefaultHealthInterval,
		HealthTimeout:  DefaultHealthTimeout,
		KeepAlive:      DefaultKeepAlive,
		DialTimeout:    DefaultDialTimeout,
		FallbackDelay:  DefaultFallbackDelay,
		Policy:         "random",
	}
	if !d.Next() {
		return nil, d.ArgErr()
	}
	if !d.NextArg() {
		return nil, d.Errf("missing base path and upstreams: use `proxy from to...`")
	}
	cfg.From = d.Val()
	for d.NextArg() {
		if err := addUpstream(d, cfg, d.Val()); err != nil {
			return nil, err
		}
	}
	for d.NextBlock(0) {
		if err := parseOption(d, cfg); err != nil {
			return nil, err
		}
	}
	if d.Next() {
		return nil, d.Errf("unexpected %q after the proxy block", d.Val())
	}
	if len(cfg.Upstreams) == 0 && cfg.SRV == nil {
		return nil, d.Errf("no upstreams for %q: list them after the path or on `upstream` lines", cfg.From)
	}
	if cfg.SRV != nil && len(cfg.Upstreams) > 0 {
		return nil, d.Errf("an srv:// upstream must be the only upstream")
	}
	if cfg.SRV != nil && cfg.HealthPort != "" {
		return nil, d.Errf("health_check_port cannot be used with an srv:// upstream (SRV records carry the port)")
	}
	if cfg.InsecureSkipVerify && len(cfg.CACertificates) > 0 {
		return nil, d.Errf("ca_certificates and insecure_skip_verify exclude each other: use one")
	}
	if cfg.WebSocket || cfg.Transparent {
		cfg.UpstreamOps = append(presetOps(cfg), cfg.UpstreamOps...)
	}
	return cfg, nil
}

func addUpstream(d *casketfile.Dispenser, cfg *Config, to string) error {
	if strings.HasPrefix(to, "srv://") || strings.HasPrefix(to, "srv+https://") {
		if cfg.SRV != nil {
			return d.Errf("only one srv:// upstream is allowed")
		}
		srv, err := parseSRV(to)
		if err != nil {
			return d.Errf("%v", err)
		}
		cfg.SRV = srv
		return nil
	}
	ups, err := parseUpstreams(to)
	if err != nil {
		return d.Errf("%v", err)
	}
	cfg.Upstreams = append(cfg.Upstreams, ups...)
	return nil
}

// presetOps returns the header rules of the transparent preset. websocket needs none: upgrade requests
// keep their Connection and Upgrade fields.
func presetOps(cfg *Config) []HeaderOp {
	if !cfg.Transparent {
		return nil
	}
	var ops []HeaderOp
	for _, kv := range [][2]string{
		{"Host", "{host}"},
		{"X-Real-IP", "{remote}"},
		{"X-Forwarded-Port", "{server_port}"},
	} {
		op, _ := newHeaderOp(kv[0], []string{kv[1]})
		ops = append(ops, op)
	}
	return ops
}

func parseOption(d *casketfile.Dispenser, cfg *Config) error {
	name := d.Val()
	args := d.RemainingArgs()
	need := func(n int) error {
		if len(args) != n {
			return d.Errf("%s takes %d argument(s), got %d", name, n, len(args))
		}
		return nil
	}
	var err error
	switch name {
	case "policy":
		if len(args) == 0 {
			return d.Errf("policy needs a name: random, least_conn, round_robin, first, ip_hash, uri_hash or header NAME...")
		}
		switch args[0] {
		case "random", "least_conn", "round_robin", "first", "ip_hash", "uri_hash":
			if len(args) != 1 {
				return d.Errf("policy %s takes no arguments", args[0])
			}
		case "header":
			if len(args) < 2 {
				return d.Errf("policy header needs at least one header name")
			}
			for _, h := range args[1:] {
				cfg.Hashed = append(cfg.Hashed, http.CanonicalHeaderKey(h))
			}
		default:
			return d.Errf("unknown policy %q: use random, least_conn, round_robin, first, ip_hash, uri_hash or header", args[0])
		}
		cfg.Policy = args[0]
	case "fail_timeout":
		cfg.FailTimeout, err = durationArg(d, name, args, true)
	case "max_fails":
		var n int
		n, err = intArg(d, name, args, 1)
		cfg.MaxFails = int32(n)
	case "max_conns":
		var n int
		n, err = intArg(d, name, args, 0)
		cfg.MaxConns = int64(n)
	case "try_duration":
		cfg.TryDuration, err = durationArg(d, name, args, true)
	case "try_interval":
		cfg.TryInterval, err = durationArg(d, name, args, true)
	case "health_check":
		if err = need(1); err == nil {
			if !strings.HasPrefix(args[0], "/") {
				return d.Errf("health_check path must start with /, got %q", args[0])
			}
			cfg.HealthPath = args[0]
		}
	case "health_check_port":
		if err = need(1); err == nil {
			if p, perr := strconv.Atoi(args[0]); perr != nil || p < 1 || p > 65535 {
				return d.Errf("health_check_port must be a port number, got %q", args[0])
			}
			cfg.HealthPort = args[0]
		}
	case "health_check_interval":
		cfg.HealthInterval, err = durationArg(d, name, args, false)
	case "health_check_timeout":
		cfg.HealthTimeout, err = durationArg(d, name, args, false)
	case "health_check_contains":
		if err = need(1); err == nil {
			cfg.HealthContains = args[0]
		}
	case "fallback_delay":
		cfg.FallbackDelay, err = durationArg(d, name, args, true)
	case "timeout":
		cfg.DialTimeout, err = durationArg(d, name, args, false)
	case "keepalive":
		cfg.KeepAlive, err = intArg(d, name, args, 0)
	case "header_upstream", "header_downstream":
		if len(args) < 1 || len(args) > 3 || (len(args) == 1 && !strings.HasPrefix(args[0], "-")) {
			return d.Errf("%s takes `Name value`, `+Name value`, `-Name` or `Name regex replacement`", name)
		}
		op, oerr := newHeaderOp(args[0], args[1:])
		if oerr != nil {
			return d.Errf("%s: %v", name, oerr)
		}
		if name == "header_upstream" {
			cfg.UpstreamOps = append(cfg.UpstreamOps, op)
		} else {
			cfg.DownstreamOps = append(cfg.DownstreamOps, op)
		}
	case "without":
		if err = need(1); err == nil {
			cfg.Without = args[0]
		}
	case "except":
		if len(args) == 0 {
			return d.Errf("except needs at least one path")
		}
		cfg.Except = append(cfg.Except, args...)
	case "upstream":
		if len(args) == 0 {
			return d.Errf("upstream needs at least one address")
		}
		for _, a := range args {
			if err := addUpstream(d, cfg, a); err != nil {
				return err
			}
		}
	case "ca_certificates":
		if len(args) == 0 {
			return d.Errf("ca_certificates needs at least one PEM file")
		}
		cfg.CACertificates = append(cfg.CACertificates, args...)
	case "insecure_skip_verify":
		err = need(0)
		cfg.InsecureSkipVerify = true
	case "tls_client":
		if err = need(2); err == nil {
			cfg.ClientCert, cfg.ClientKey = args[0], args[1]
		}
	case "transparent", "trans":
		err = need(0)
		cfg.Transparent = true
	case "websocket":
		err = need(0)
		cfg.WebSocket = true
	case "preset":
		// `preset transparent` is how the old documentation spelled the bare words.
		if err = need(1); err == nil {
			switch args[0] {
			case "transparent", "trans":
				cfg.Transparent = true
			case "websocket":
				cfg.WebSocket = true
			default:
				return d.Errf("unknown preset %q: use transparent or websocket", args[0])
			}
		}
	case "quic":
		return d.Errf("quic upstreams are not supported")
	default:
		return d.Errf("unknown option %q", name)
	}
	return err
}

func durationArg(d *casketfile.Dispenser, name string, args []string, zeroOK bool) (time.Duration, error) {
	if len(args) != 1 {
		return 0, d.Errf("%s takes one duration, got %d arguments", name, len(args))
	}
	v, err := time.ParseDuration(args[0])
	if err != nil && args[0] == "0" {
		v, err = 0, nil
	}
	if err != nil || v < 0 || (v == 0 && !zeroOK) {
		return 0, d.Errf("%s: invalid duration %q (use e.g. 10s, 500ms)", name, args[0])
	}
	return v, nil
}

func intArg(d *casketfile.Dispenser, name string, args []string, min int) (int, error) {
	if len(args) != 1 {
		return 0, d.Errf("%s takes one number, got %d arguments", name, len(args))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < min {
		return 0, d.Errf("%s: want an integer >= %d, got %q", name, min, args[0])
	}
	return n, nil
}
