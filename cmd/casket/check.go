package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casketserver/casket/dnsproviders"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/tlsmgr"
)

// Results of -check.
const (
	checkOK   = "OK"
	checkWarn = "WARN"
	checkFail = "FAIL"
)

// checkResult is one line of the -check report.
type checkResult struct {
	Result  string // checkOK, checkWarn or checkFail
	Check   string // dns, port, ca, dns-provider
	Subject string // the name, address, CA or provider checked
	Detail  string
}

// checker runs the pre-flight checks of -check. Its hooks default to the real network; tests replace
// them to stay deterministic.
type checker struct {
	c          *config
	lookup     func(ctx context.Context, host string) ([]net.IP, error) // DNS A/AAAA
	localAddrs func() ([]net.IP, error)                                 // addresses of this host
	listen     func(addr string) (net.Listener, error)
	lookupEnv  func(string) (string, bool)
	roots      *x509.CertPool // trusted for CA directories; nil means the system roots (SSL_CERT_FILE)
	timeout    time.Duration  // per network check
}

func newChecker(c *config) *checker {
	return &checker{
		c: c,
		lookup: func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		},
		localAddrs: interfaceIPs,
		listen:     func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) },
		lookupEnv:  os.LookupEnv,
		timeout:    min(c.CATimeout, 10*time.Second),
	}
}

// interfaceIPs lists the addresses of the host's network interfaces.
func interfaceIPs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ips = append(ips, n.IP)
		}
	}
	return ips, nil
}

// managedSite is a name whose certificate Casket would order, with its policy.
type managedSite struct {
	name string
	p    *tlsmgr.Policy
}

// run checks the configuration in: nothing is ordered, nothing stays bound.
func (ck *checker) run(ctx context.Context, in *httpserver.Instance) []checkResult {
	var (
		managed []managedSite
		seen    = map[string]bool{}
	)
	for _, s := range in.Sites() {
		if s.TLSConfig == nil || !httpserver.ManagedTLS(s, ck.c.HTTPPort) || seen[s.Addr.Host] {
			continue
		}
		seen[s.Addr.Host] = true
		managed = append(managed, managedSite{name: s.Addr.Host, p: s.TLS})
	}
	var out []checkResult
	for _, m := range managed {
		out = append(out, ck.checkDNS(ctx, m))
	}
	out = append(out, ck.checkPorts(in, len(managed) > 0)...)
	out = append(out, ck.checkCAs(ctx, managed)...)
	out = append(out, ck.checkProviders(managed)...)
	return out
}

// checkDNS says whether name resolves to an address of this host, as the HTTP-01 and TLS-ALPN-01
// challenges need.
func (ck *checker) checkDNS(ctx context.Context, m managedSite) checkResult {
	r := checkResult{Check: "dns", Subject: m.name}
	if m.p != nil && m.p.DNSProvider != "" {
		r.Result, r.Detail = checkOK, "DNS challenge through "+m.p.DNSProvider+": the name need not point here"
		return r
	}
	if m.p.OnDemand() {
		r.Result, r.Detail = checkOK, "on-demand TLS: names are checked when clients connect"
		return r
	}
	if strings.HasPrefix(m.name, "*.") {
		r.Result, r.Detail = checkFail, "a wildcard name needs the DNS challenge (tls { dns PROVIDER })"
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, ck.timeout)
	defer cancel()
	ips, err := ck.lookup(ctx, m.name)
	if err != nil || len(ips) == 0 {
		if err == nil {
			err = fmt.Errorf("no A or AAAA record")
		}
		r.Result, r.Detail = checkFail, fmt.Sprintf("does not resolve (%v); the CA cannot reach this host", err)
		return r
	}
	local, err := ck.localAddrs()
	if err != nil {
		r.Result, r.Detail = checkWarn, fmt.Sprintf("resolves to %s; cannot list this host's addresses: %v", joinIPs(ips), err)
		return r
	}
	var mine, other []net.IP
	for _, ip := range ips {
		if slices.ContainsFunc(local, ip.Equal) {
			mine = append(mine, ip)
		} else {
			other = append(other, ip)
		}
	}
	switch {
	case len(other) == 0:
		r.Result, r.Detail = checkOK, "resolves to "+joinIPs(mine)+" (this host)"
	case len(mine) == 0:
		r.Result, r.Detail = checkWarn, "resolves to "+joinIPs(other)+", not an address of this host "+
			"(fine only behind NAT or a load balancer forwarding the HTTP and HTTPS ports here)"
	default:
		r.Result, r.Detail = checkWarn, "resolves to "+joinIPs(mine)+" (this host) and also to "+joinIPs(other)+
			"; the CA may validate through any of them"
	}
	return r
}

func joinIPs(ips []net.IP) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

// checkPorts binds every listener address of the configuration and, when certificates are managed, the
// HTTP and HTTPS ports where the CA's challenges arrive; each socket is closed at once.
func (ck *checker) checkPorts(in *httpserver.Instance, challenges bool) []checkResult {
	addrs := slices.Clone(in.Addresses())
	slices.Sort(addrs)
	if challenges {
		// The challenge ports first, unless an address of the configuration binds them already.
		var first []string
		for _, p := range []string{ck.c.HTTPPort, ck.c.HTTPSPort} {
			if !slices.ContainsFunc(addrs, func(a string) bool { _, ap, _ := net.SplitHostPort(a); return ap == p }) {
				first = append(first, ":"+p)
			}
		}
		for _, p := range []string{ck.c.HTTPPort, ck.c.HTTPSPort} {
			if i := slices.Index(addrs, ":"+p); i >= 0 {
				addrs = slices.Delete(addrs, i, i+1)
				first = append(first, ":"+p)
			}
		}
		addrs = append(first, addrs...)
	}
	var out []checkResult
	for _, a := range slices.Compact(addrs) {
		r := checkResult{Check: "port", Subject: a, Result: checkOK, Detail: "can be bound"}
		if ln, err := ck.listen(a); err != nil {
			r.Result, r.Detail = checkFail, "cannot be bound: "+bindHint(err)
		} else {
			ln.Close()
		}
		out = append(out, r)
	}
	return out
}

// bindHint explains the usual causes of a failed bind.
func bindHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "permission denied"):
		return msg + " (ports below 1024 need root or setcap cap_net_bind_service=+ep on the binary)"
	case strings.Contains(msg, "address already in use"):
		return msg + " (another process, perhaps a running casket, listens there)"
	}
	return msg
}

// checkCAs asks each ACME directory in use for its directory object.
func (ck *checker) checkCAs(ctx context.Context, managed []managedSite) []checkResult {
	type ca struct{ url, root string }
	var cas []ca
	for _, m := range managed {
		c := ca{url: ck.c.CA}
		if m.p != nil {
			if m.p.CA != "" {
				c.url = m.p.CA
			}
			c.root = m.p.CARoot
		}
		if !slices.Contains(cas, c) {
			cas = append(cas, c)
		}
	}
	var out []checkResult
	for _, c := range cas {
		r := checkResult{Check: "ca", Subject: c.url, Result: checkOK}
		if err := ck.getDirectory(ctx, c.url, c.root); err != nil {
			r.Result, r.Detail = checkFail, err.Error()
		} else {
			r.Detail = "ACME directory answers"
		}
		out = append(out, r)
	}
	return out
}

// getDirectory fetches an ACME directory and checks it names the newNonce and newOrder endpoints.
func (ck *checker) getDirectory(ctx context.Context, url, rootFile string) error {
	roots := ck.roots
	if rootFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(rootFile)
		if err != nil {
			return fmt.Errorf("reading ca_root: %w", err)
		}
		pool.AppendCertsFromPEM(b)
		roots = pool
	}
	client := &http.Client{Timeout: ck.timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, Proxy: http.ProxyFromEnvironment,
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("invalid CA URL: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unreachable: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answers %s, not an ACME directory", resp.Status)
	}
	var dir struct {
		NewNonce string `json:"newNonce"`
		NewOrder string `json:"newOrder"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir); err != nil || dir.NewNonce == "" || dir.NewOrder == "" {
		return fmt.Errorf("answers, but not with an ACME directory")
	}
	return nil
}

// checkProviders builds each DNS provider in use from its settings and the environment, which fails
// when credentials are missing; it contacts no DNS API.
func (ck *checker) checkProviders(managed []managedSite) []checkResult {
	var (
		out  []checkResult
		seen = map[string]bool{}
	)
	for _, m := range managed {
		if m.p == nil || m.p.DNSProvider == "" || seen[m.p.DNSProvider] {
			continue
		}
		seen[m.p.DNSProvider] = true
		r := checkResult{Check: "dns-provider", Subject: m.p.DNSProvider, Result: checkOK, Detail: "credentials present"}
		ctor, ok := dnsproviders.Lookup(m.p.DNSProvider)
		if !ok {
			r.Result, r.Detail = checkFail, "unknown provider (see casket -plugins)"
		} else if _, err := ctor(dnsconf.Config{Provider: m.p.DNSProvider, Options: m.p.DNSOptions, LookupEnv: ck.lookupEnv}); err != nil {
			r.Result, r.Detail = checkFail, err.Error()
		}
		out = append(out, r)
	}
	return out
}

// printChecks writes the report table and a summary; it returns whether any check failed.
func printChecks(w io.Writer, results []checkResult) bool {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tCHECK\tSUBJECT\tDETAIL")
	count := map[string]int{}
	for _, r := range results {
		count[r.Result]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Result, r.Check, r.Subject, r.Detail)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d checks: %d OK, %d WARN, %d FAIL\n", len(results), count[checkOK], count[checkWarn], count[checkFail])
	if len(results) == 0 {
		fmt.Fprintln(w, "No site serves HTTPS with a managed certificate; only the ports were checked.")
	}
	return count[checkFail] > 0
}

// runCheck is -check: build the configuration as -validate does, then run the pre-flight checks.
func runCheck(ck *checker, in *httpserver.Instance, stdout io.Writer) int {
	results := ck.run(context.Background(), in)
	if printChecks(stdout, results) {
		return exitStartup
	}
	return exitOK
}
