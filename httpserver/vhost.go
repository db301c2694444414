package httpserver

import (
	"net/netip"
	"sort"
	"strings"
)

// vhostTable finds the site for a request on one listener: by host first (exact name, then wildcards
// made by replacing labels left to right with "*", then the catch-alls "0.0.0.0", "::" and ""), then
// by the longest base path that prefixes the request path. If a host's sites all miss the path, the
// next, less specific, host candidate is tried. It is built once at Start and read-only afterwards.
type vhostTable struct {
	exact    map[string][]*Site  // host → sites, longest base path first
	wild     map[wildKey][]*Site // left-most wildcard patterns by number of "*" labels and the rest
	maxStars int
	fallback [][]*Site // catch-all hosts, in order
}

// wildKey identifies a host pattern such as "*.*.example.com": stars=2, suffix=".example.com".
type wildKey struct {
	stars  int
	suffix string
}

// catchAllHosts are the hosts that match any request, most specific first.
var catchAllHosts = [...]string{"0.0.0.0", "::", ""}

func newVhostTable(sites []*Site) *vhostTable {
	t := &vhostTable{exact: make(map[string][]*Site), wild: make(map[wildKey][]*Site)}
	for _, s := range sites {
		h := s.Addr.Host
		t.exact[h] = append(t.exact[h], s)
		if k, ok := wildcardKey(h); ok {
			t.wild[k] = append(t.wild[k], s)
			t.maxStars = max(t.maxStars, k.stars)
		}
	}
	byPath := func(list []*Site) {
		sort.SliceStable(list, func(i, j int) bool { return len(list[i].Addr.Path) > len(list[j].Addr.Path) })
	}
	for _, list := range t.exact {
		byPath(list)
	}
	for _, list := range t.wild {
		byPath(list)
	}
	for _, h := range catchAllHosts {
		if list := t.exact[h]; list != nil {
			t.fallback = append(t.fallback, list)
		}
	}
	return t
}

// wildcardKey reports whether host is a left-most wildcard pattern ("*", "*.example.com",
// "*.*.example.com") and returns its key. Patterns with "*" elsewhere only match literally.
func wildcardKey(host string) (wildKey, bool) {
	labels := strings.Split(host, ".")
	k := 0
	for k < len(labels) && labels[k] == "*" {
		k++
	}
	if k == 0 {
		return wildKey{}, false
	}
	rest := labels[k:]
	for _, l := range rest {
		if l == "" || strings.Contains(l, "*") {
			return wildKey{}, false
		}
	}
	suffix := ""
	if len(rest) > 0 {
		suffix = "." + strings.Join(rest, ".")
	}
	return wildKey{stars: k, suffix: suffix}, true
}

// match returns the site serving host and path, or nil. host must be normalized (requestHost).
func (t *vhostTable) match(host, path string) *Site {
	if s := pickPath(t.exact[host], path); s != nil {
		return s
	}
	if t.maxStars > 0 {
		rest := host
		for k := 1; k <= t.maxStars && rest != ""; k++ {
			suffix := ""
			if i := strings.IndexByte(rest, '.'); i >= 0 {
				suffix, rest = rest[i:], rest[i+1:]
			} else {
				rest = ""
			}
			if s := pickPath(t.wild[wildKey{k, suffix}], path); s != nil {
				return s
			}
		}
	}
	for _, list := range t.fallback {
		if s := pickPath(list, path); s != nil {
			return s
		}
	}
	return nil
}

// matchHost returns the first site serving host on any path (for choosing a TLS config by SNI).
func (t *vhostTable) matchHost(host string) *Site {
	return t.match(host, "")
}

// pickPath returns the first site of list (longest base path first) whose base path prefixes path. An
// empty path stands for "any": it takes the first site.
func pickPath(list []*Site, path string) *Site {
	for _, s := range list {
		if path == "" || PathMatches(path, s.Addr.Path) {
			return s
		}
	}
	return nil
}

// requestHost normalizes a Host header (or SNI name) for lookup: port and IPv6 brackets removed,
// a trailing dot dropped, lower-cased, IPv6 canonicalized. It allocates only when it must change case
// or rewrite an IPv6 address.
func requestHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			h = strings.ToLower(h)
			break
		}
	}
	if strings.IndexByte(h, ':') >= 0 {
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip.String()
		}
	}
	return h
}
