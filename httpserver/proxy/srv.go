package proxy

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// srvCacheTTL is how long one SRV answer is used before it is looked up again.
const srvCacheTTL = 10 * time.Second

// SRVUpstream discovers the upstreams through DNS SRV records (srv:// and srv+https://).
type SRVUpstream struct {
	Name   string // the name looked up, e.g. _http._tcp.example.com
	Scheme string // http or https

	mu      sync.Mutex
	expires time.Time
	current []*Upstream          // in SRV order (priority, then weighted)
	known   map[string]*Upstream // every target seen, so counters and pools survive refreshes
}

func parseSRV(to string) (*SRVUpstream, error) {
	scheme, name, _ := strings.Cut(to, "://")
	s := &SRVUpstream{Name: strings.TrimSuffix(name, "/"), Scheme: "http"}
	if scheme == "srv+https" {
		s.Scheme = "https"
	}
	if s.Name == "" || strings.ContainsAny(s.Name, "/:?#") {
		return nil, fmt.Errorf("srv upstream %q: want srv://_service._proto.name", to)
	}
	return s, nil
}

// upstreams returns the current targets, looking them up again when the cached answer is old. When a
// lookup fails, the previous answer is kept. build prepares a new target's transport.
func (s *SRVUpstream) upstreams(ctx context.Context, res *net.Resolver, build func(*Upstream)) ([]*Upstream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Now().Before(s.expires) {
		return s.current, nil
	}
	_, addrs, err := res.LookupSRV(ctx, "", "", s.Name)
	if err != nil {
		if s.current != nil {
			s.expires = time.Now().Add(time.Second)
			return s.current, nil
		}
		return nil, fmt.Errorf("looking up SRV %s: %w", s.Name, err)
	}
	if s.known == nil {
		s.known = make(map[string]*Upstream)
	}
	cur := make([]*Upstream, 0, len(addrs))
	for _, a := range addrs {
		hp := net.JoinHostPort(strings.TrimSuffix(a.Target, "."), strconv.Itoa(int(a.Port)))
		u := s.known[hp]
		if u == nil {
			u = &Upstream{Name: s.Scheme + "://" + hp, Scheme: s.Scheme, Host: hp, Network: "tcp", Address: hp}
			build(u)
			s.known[hp] = u
		}
		cur = append(cur, u)
	}
	s.current, s.expires = cur, time.Now().Add(srvCacheTTL)
	return cur, nil
}

// closeIdle closes the idle connections of every target seen.
func (s *SRVUpstream) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.known {
		u.transport.CloseIdleConnections()
	}
}
