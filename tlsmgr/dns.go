package tlsmgr

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/dnsproviders"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"go.uber.org/zap"
)

// DNSSettings tune the DNS-01 challenge of a policy with a DNS provider; zero values mean certmagic's
// defaults.
type DNSSettings struct {
	PropagationDelay   time.Duration // `propagation_delay`: wait before the first propagation check
	PropagationTimeout time.Duration // `propagation_timeout`: give up checking after this; -1 skips the check
	Resolvers          []string      // `resolvers`: DNS servers (host or host:port) for zone and propagation lookups
	TTL                time.Duration // `dns_ttl`: TTL of the challenge TXT records
	OverrideDomain     string        // `override_domain`: put the TXT record here (a CNAME delegation target)
}

// key identifies the settings within a policy's configuration key.
func (s DNSSettings) key() string {
	return strings.Join([]string{s.PropagationDelay.String(), s.PropagationTimeout.String(),
		strings.Join(s.Resolvers, ","), s.TTL.String(), strings.ToLower(s.OverrideDomain)}, "\x01")
}

// dnsKey identifies the provider, its options and settings (credentials stay in memory only).
func (p *Policy) dnsKey() string {
	if p == nil || p.DNSProvider == "" {
		return ""
	}
	keys := make([]string, 0, len(p.DNSOptions))
	for k := range p.DNSOptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(p.DNSProvider)
	for _, k := range keys {
		b.WriteString("\x01" + k + "=" + p.DNSOptions[k])
	}
	return b.String() + "\x02" + p.DNS.key()
}

// parseDNSSub parses a DNS-challenge knob of the `tls` block; it reports whether name is one.
func (p *Policy) parseDNSSub(d *casketfile.Dispenser, name string, args []string) (bool, error) {
	one := func() (string, error) {
		if len(args) != 1 {
			return "", d.Errf("%s: expected 1 argument, got %d", name, len(args))
		}
		return args[0], nil
	}
	duration := func(allowSkip bool) (time.Duration, error) {
		a, err := one()
		if err != nil {
			return 0, err
		}
		if allowSkip && a == "-1" {
			return -1, nil
		}
		v, err := time.ParseDuration(a)
		if err != nil || v < 0 {
			if n, nerr := strconv.Atoi(a); nerr == nil && n >= 0 {
				return time.Duration(n) * time.Second, nil
			}
			hint := "a duration such as 30s or 2m"
			if allowSkip {
				hint += ", or -1 to skip the check"
			}
			return 0, d.Errf("%s: %q is not %s", name, a, hint)
		}
		return v, nil
	}
	var err error
	switch name {
	case "propagation_delay":
		p.DNS.PropagationDelay, err = duration(false)
	case "propagation_timeout":
		p.DNS.PropagationTimeout, err = duration(true)
	case "dns_ttl":
		p.DNS.TTL, err = duration(false)
	case "resolvers":
		if len(args) == 0 {
			return true, d.Errf("resolvers: expected at least one DNS server, e.g. resolvers 1.1.1.1 8.8.8.8:53")
		}
		for _, a := range args {
			host := a
			if h, port, err := net.SplitHostPort(a); err == nil {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					return true, d.Errf("resolvers: %q has an invalid port", a)
				}
				host = h
			}
			if host == "" {
				return true, d.Errf("resolvers: %q has no host", a)
			}
		}
		p.DNS.Resolvers = append(p.DNS.Resolvers, args...)
	case "override_domain":
		var v string
		if v, err = one(); err == nil {
			if strings.Contains(v, "*") || strings.Trim(v, ".") == "" {
				return true, d.Errf("override_domain: %q is not a domain name", v)
			}
			p.DNS.OverrideDomain = strings.TrimSuffix(v, ".")
		}
	default:
		return false, nil
	}
	return true, err
}

// checkDNS validates the DNS settings of a parsed policy: a known provider whose credentials are present.
func (p *Policy) checkDNS(d *casketfile.Dispenser) error {
	if p.DNSProvider == "" {
		if p.DNS.key() != (DNSSettings{}).key() {
			return d.Errf("propagation_delay, propagation_timeout, resolvers, dns_ttl and override_domain need a DNS provider: add 'dns PROVIDER' to the tls block")
		}
		return nil
	}
	if _, err := newDNSProvider(p, nil); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

// newDNSProvider builds the provider of p, reading the environment with lookupEnv (nil: os.LookupEnv).
func newDNSProvider(p *Policy, lookupEnv func(string) (string, bool)) (dnsproviders.Provider, error) {
	ctor, ok := dnsproviders.Lookup(p.DNSProvider)
	if !ok {
		return nil, fmt.Errorf("dns: unknown DNS provider %q (available: %s)", p.DNSProvider, strings.Join(dnsproviders.Names(), ", "))
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	return ctor(dnsconf.Config{Provider: p.DNSProvider, Options: p.DNSOptions, LookupEnv: lookupEnv})
}

// dnsSolver builds the DNS-01 solver of p.
func (m *Manager) dnsSolver(p *Policy) (*certmagic.DNS01Solver, error) {
	prov, err := newDNSProvider(p, m.lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("tls %w", err)
	}
	s := p.DNS
	return &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
		DNSProvider:        prov,
		TTL:                s.TTL,
		PropagationDelay:   s.PropagationDelay,
		PropagationTimeout: s.PropagationTimeout,
		Resolvers:          resolverAddrs(s.Resolvers),
		OverrideDomain:     s.OverrideDomain,
		Logger:             m.log.Named("dns01").With(zap.String("provider", p.DNSProvider)),
	}}, nil
}

// resolverAddrs adds port 53 where missing.
func resolverAddrs(in []string) []string {
	out := make([]string, 0, len(in))
	for _, a := range in {
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(strings.Trim(a, "[]"), "53")
		}
		out = append(out, a)
	}
	return out
}

// WildcardName returns the wildcard name that covers name under the `wildcard` subdirective:
// a.example.com → *.example.com. Names with fewer than three labels are an error (*.com is not a
// certificate any CA issues), and wildcard names are returned unchanged.
func WildcardName(name string) (string, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if strings.HasPrefix(name, "*.") {
		return name, nil
	}
	labels := strings.Split(name, ".")
	if len(labels) < 3 || net.ParseIP(name) != nil {
		return "", fmt.Errorf("tls wildcard: %s has too few labels for a wildcard certificate (it would be *.%s); use wildcard only on names like a.%s",
			name, strings.Join(labels[min(1, len(labels)-1):], "."), name)
	}
	return "*." + strings.Join(labels[1:], "."), nil
}

// coveringWildcard returns the wildcard name that would match name ("" for none or for wildcards).
func coveringWildcard(name string) string {
	if strings.HasPrefix(name, "*.") {
		return ""
	}
	_, rest, ok := strings.Cut(name, ".")
	if !ok || !strings.Contains(rest, ".") {
		return ""
	}
	return "*." + rest
}

// wildcardNames applies the `wildcard` subdirective (each name becomes its *.parent, once) and checks
// that wildcard names have a DNS provider.
func wildcardNames(names []string, p *Policy) ([]string, error) {
	if p != nil && p.Wildcard {
		out := make([]string, 0, len(names))
		seen := make(map[string]bool, len(names))
		for _, n := range names {
			w, err := WildcardName(n)
			if err != nil {
				return nil, err
			}
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
		names = out
	}
	for _, n := range names {
		if strings.HasPrefix(n, "*.") && (p == nil || p.DNSProvider == "") {
			return nil, fmt.Errorf("%s: a wildcard certificate needs the DNS challenge: add 'dns PROVIDER' to the tls block", n)
		}
	}
	return names, nil
}

// dropCovered removes the names a managed wildcard certificate already covers (it is served for them, so
// they need no order of their own). m.mu is held.
func (m *Manager) dropCovered(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		if w := coveringWildcard(n); w != "" {
			if _, ok := m.names[w]; ok {
				m.log.Debug("served by a managed wildcard certificate", zap.String("name", n), zap.String("wildcard", w))
				continue
			}
		}
		out = append(out, n)
	}
	return out
}
