package httpserver

import (
	"fmt"
	"sort"
	"time"
)

// Default server timeouts, used for a listener when none of its sites sets that timeout with
// `timeouts`. Reading the header is bounded (slowloris); reading and writing whole requests and
// responses is not, so large uploads and long downloads work; idle keep-alive connections are reaped.
const (
	DefaultReadTimeout       time.Duration = 0 // none
	DefaultReadHeaderTimeout               = 10 * time.Second
	DefaultWriteTimeout      time.Duration = 0 // none
	DefaultIdleTimeout                     = 5 * time.Minute
)

// listenerPlan is one listener address and the sites it serves.
type listenerPlan struct {
	addr  string
	sites []*Site
	tls   bool
}

// planListeners groups sites by listen address (bind host and port), sorted by address, and checks
// that the sites of one listener agree on TLS.
func planListeners(sites []*Site, _ Options) ([]*listenerPlan, error) {
	byAddr := make(map[string]*listenerPlan)
	var plans []*listenerPlan
	for _, s := range sites {
		addr := s.ListenAddress()
		p := byAddr[addr]
		if p == nil {
			p = &listenerPlan{addr: addr, tls: s.TLSConfig != nil}
			byAddr[addr] = p
			plans = append(plans, p)
		}
		p.sites = append(p.sites, s)
	}
	for _, p := range plans {
		for _, s := range p.sites {
			if (s.TLSConfig != nil) != p.tls {
				return nil, fmt.Errorf("cannot multiplex HTTP and HTTPS on %s (site %s uses %s, site %s does not)",
					p.addr, tlsSite(p.sites).Addr.Key(), "TLS", plainSite(p.sites).Addr.Key())
			}
		}
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].addr < plans[j].addr })
	return plans, nil
}

func tlsSite(sites []*Site) *Site {
	for _, s := range sites {
		if s.TLSConfig != nil {
			return s
		}
	}
	return nil
}

func plainSite(sites []*Site) *Site {
	for _, s := range sites {
		if s.TLSConfig == nil {
			return s
		}
	}
	return nil
}

// listenerTimeouts reduces the sites' timeouts to what the listener's http.Server uses (0 = none): per
// field, the smallest positive value any site sets; none if the sites that set it all say none (a
// negative value); the default if no site sets it.
func listenerTimeouts(sites []*Site) Timeouts {
	pick := func(get func(Timeouts) time.Duration, def time.Duration) time.Duration {
		var set bool
		var best time.Duration // 0 = none
		for _, s := range sites {
			v := get(s.Timeouts)
			switch {
			case v == 0:
				continue
			case v < 0:
				set = true
			case best == 0 || v < best:
				set, best = true, v
			}
		}
		if !set {
			return def
		}
		return best
	}
	return Timeouts{
		Read:       pick(func(t Timeouts) time.Duration { return t.Read }, DefaultReadTimeout),
		ReadHeader: pick(func(t Timeouts) time.Duration { return t.ReadHeader }, DefaultReadHeaderTimeout),
		Write:      pick(func(t Timeouts) time.Duration { return t.Write }, DefaultWriteTimeout),
		Idle:       pick(func(t Timeouts) time.Duration { return t.Idle }, DefaultIdleTimeout),
	}
}

// listenerMaxHeaderBytes is the smallest header limit any site sets, or 0 for net/http's default.
func listenerMaxHeaderBytes(sites []*Site) int {
	n := 0
	for _, s := range sites {
		if s.MaxHeaderBytes > 0 && (n == 0 || s.MaxHeaderBytes < n) {
			n = s.MaxHeaderBytes
		}
	}
	return n
}
