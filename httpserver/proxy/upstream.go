package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxPortRange caps `host:a-b` so a typo cannot create thousands of upstreams.
const maxPortRange = 1024

// Upstream is one backend. Its counters are shared by every request the directive proxies.
type Upstream struct {
	Name    string // as it appears in {upstream}: scheme://host:port, or unix:/path
	Scheme  string // http or https
	Host    string // host:port of the URL (and the default Host field)
	Path    string // path prefix from the upstream URL, joined in front of the request path
	Network string // "tcp" or "unix"
	Address string // dial address: host:port or the socket path

	conns     atomic.Int64 // requests in flight
	fails     atomic.Int32 // failures within fail_timeout
	unhealthy atomic.Bool  // the last active health check failed

	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

// parseUpstreams parses one `to` address; a port range gives one Upstream per port.
func parseUpstreams(to string) ([]*Upstream, error) {
	if sock, ok := strings.CutPrefix(to, "unix:"); ok {
		if sock == "" {
			return nil, fmt.Errorf("unix upstream %q needs a socket path", to)
		}
		return []*Upstream{{Name: to, Scheme: "http", Host: "localhost", Network: "unix", Address: sock}}, nil
	}
	scheme, rest, ok := strings.Cut(to, "://")
	if !ok {
		scheme, rest = "http", to
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("upstream %q: unsupported scheme %q (use http, https, unix: or srv://)", to, scheme)
	}
	hostport, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, path = rest[:i], rest[i:]
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("upstream %q: a query or fragment is not allowed", to)
	}
	if hostport == "" {
		return nil, fmt.Errorf("upstream %q has no host", to)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), ""
		if strings.Contains(host, "]") || (strings.Count(hostport, ":") == 1 && !strings.HasPrefix(hostport, "[")) {
			return nil, fmt.Errorf("upstream %q: bad host:port", to)
		}
	}
	if host == "" {
		return nil, fmt.Errorf("upstream %q has no host", to)
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	lo, hi, err := portRange(port)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %v", to, err)
	}
	if path == "/" {
		path = ""
	}
	var ups []*Upstream
	for p := lo; p <= hi; p++ {
		hp := net.JoinHostPort(host, strconv.Itoa(p))
		if _, err := url.Parse(scheme + "://" + hp + path); err != nil {
			return nil, fmt.Errorf("upstream %q: %v", to, err)
		}
		ups = append(ups, &Upstream{
			Name: scheme + "://" + hp, Scheme: scheme, Host: hp, Path: path, Network: "tcp", Address: hp,
		})
	}
	return ups, nil
}

// portRange parses "8080" or "8080-8085".
func portRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err = strconv.Atoi(a)
	if err != nil || lo < 1 || lo > 65535 {
		return 0, 0, fmt.Errorf("bad port %q", a)
	}
	hi = lo
	if isRange {
		hi, err = strconv.Atoi(b)
		if err != nil || hi < lo || hi > 65535 {
			return 0, 0, fmt.Errorf("bad port range %q", s)
		}
		if hi-lo >= maxPortRange {
			return 0, 0, fmt.Errorf("port range %q is larger than %d ports", s, maxPortRange)
		}
	}
	return lo, hi, nil
}

// available reports whether the upstream may take a request: not marked down by failures or a health
// check, and under max_conns.
func (u *Upstream) available(cfg *Config) bool {
	if u.unhealthy.Load() {
		return false
	}
	if cfg.FailTimeout > 0 && u.fails.Load() >= cfg.MaxFails {
		return false
	}
	return cfg.MaxConns == 0 || u.conns.Load() < cfg.MaxConns
}

// acquire counts a request in flight, refusing when max_conns is reached.
func (u *Upstream) acquire(max int64) bool {
	n := u.conns.Add(1)
	if max > 0 && n > max {
		u.conns.Add(-1)
		return false
	}
	return true
}

func (u *Upstream) release() { u.conns.Add(-1) }

// fail records a failed attempt, remembered for d (passive health checks). d = 0 forgets at once.
func (u *Upstream) fail(d time.Duration) {
	if d <= 0 {
		return
	}
	u.fails.Add(1)
	time.AfterFunc(d, func() {
		if u.fails.Add(-1) < 0 {
			u.fails.Store(0)
		}
	})
}

// Fails returns the failures currently remembered for the upstream.
func (u *Upstream) Fails() int { return int(u.fails.Load()) }

// Conns returns the requests in flight to the upstream.
func (u *Upstream) Conns() int { return int(u.conns.Load()) }

// Healthy reports the result of the last active health check (true when none ran).
func (u *Upstream) Healthy() bool { return !u.unhealthy.Load() }
