package proxy

import (
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
)

// policy picks an upstream among pool for r; nil means none is available.
type policy interface {
	pick(pool []*Upstream, cfg *Config, r *http.Request) *Upstream
}

func newPolicy(cfg *Config) policy {
	switch cfg.Policy {
	case "least_conn":
		return leastConn{}
	case "round_robin":
		return &roundRobin{}
	case "first":
		return first{}
	case "ip_hash":
		return hashPolicy{key: clientIP}
	case "uri_hash":
		return hashPolicy{key: func(r *http.Request) string { return r.RequestURI }}
	case "header":
		names := cfg.Hashed
		return hashPolicy{key: func(r *http.Request) string {
			if len(names) == 1 {
				return r.Header.Get(names[0])
			}
			var k string
			for _, n := range names {
				k += r.Header.Get(n) + "\x00"
			}
			if len(k) == len(names) {
				return ""
			}
			return k
		}}
	default:
		return random{}
	}
}

// random picks uniformly among the available upstreams (reservoir sampling, no allocation).
type random struct{}

func (random) pick(pool []*Upstream, cfg *Config, _ *http.Request) *Upstream {
	var chosen *Upstream
	n := 0
	for _, u := range pool {
		if !u.available(cfg) {
			continue
		}
		n++
		if n == 1 || rand.IntN(n) == 0 {
			chosen = u
		}
	}
	return chosen
}

// leastConn picks the available upstream with the fewest requests in flight; ties are broken at random.
type leastConn struct{}

func (leastConn) pick(pool []*Upstream, cfg *Config, _ *http.Request) *Upstream {
	var chosen *Upstream
	var least int64
	ties := 0
	for _, u := range pool {
		if !u.available(cfg) {
			continue
		}
		c := u.conns.Load()
		switch {
		case chosen == nil || c < least:
			chosen, least, ties = u, c, 1
		case c == least:
			ties++
			if rand.IntN(ties) == 0 {
				chosen = u
			}
		}
	}
	return chosen
}

// roundRobin takes the upstreams in turn, skipping unavailable ones.
type roundRobin struct{ next atomic.Uint32 }

func (rr *roundRobin) pick(pool []*Upstream, cfg *Config, _ *http.Request) *Upstream {
	n := uint32(len(pool))
	start := rr.next.Add(1) - 1
	for i := uint32(0); i < n; i++ {
		if u := pool[(start+i)%n]; u.available(cfg) {
			return u
		}
	}
	return nil
}

// first takes the first available upstream in the order they were written.
type first struct{}

func (first) pick(pool []*Upstream, cfg *Config, _ *http.Request) *Upstream {
	for _, u := range pool {
		if u.available(cfg) {
			return u
		}
	}
	return nil
}

// hashPolicy maps a request key (client IP, URI, header values) to an upstream, so the same key goes to
// the same upstream while it is available; an unavailable one passes its share to the next in order.
// A request without a key (a missing header) is placed at random.
type hashPolicy struct{ key func(*http.Request) string }

func (hp hashPolicy) pick(pool []*Upstream, cfg *Config, r *http.Request) *Upstream {
	k := hp.key(r)
	if k == "" {
		return random{}.pick(pool, cfg, r)
	}
	n := uint32(len(pool))
	start := fnv32a(k) % n
	for i := uint32(0); i < n; i++ {
		if u := pool[(start+i)%n]; u.available(cfg) {
			return u
		}
	}
	return nil
}

// clientIP is the IP of the client's connection, without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// fnv32a is the 32-bit FNV-1a hash of s.
func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
