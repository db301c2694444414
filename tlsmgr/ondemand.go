package tlsmgr

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/casketserver/casket/internal/metrics"
)

// onDemand is a Manager's on-demand TLS state: which site patterns may obtain certificates during TLS
// handshakes, under which limits. The zero value is ready; EnableOnDemand fills it.
type onDemand struct {
	table  atomic.Pointer[odTable] // read on every handshake; replaced whole by EnableOnDemand
	state  *OnDemandState
	limits *rateLimits // &state.limits: built-in limits, shared by every site without `ask`
	// cluster, set when Options.ClusterLimits, keeps the limits and counts in the shared storage instead
	// of limits and state: they then hold for the whole cluster (ondemand_cluster.go).
	cluster *clusterLimits

	askTimeout time.Duration // how long an `ask` request may take; 0 means defaultAskTimeout

	mu     sync.Mutex // serializes EnableOnDemand
	groups map[string]*odGroup
	client *http.Client // for `ask`; redirects are not followed
}

// OnDemandState is what on-demand TLS remembers for the life of the process: the built-in rate limits and
// the number of certificates obtained under each `max_certs`. Casket creates one per process and passes
// it to the Manager of every (re)loaded configuration through Options.OnDemand; nothing is persisted.
type OnDemandState struct {
	limits rateLimits
	mu     sync.Mutex
	counts map[string]*certCounter // by site patterns and policy
}

// NewOnDemandState returns an empty OnDemandState.
func NewOnDemandState() *OnDemandState {
	return &OnDemandState{counts: make(map[string]*certCounter)}
}

// counter returns the max_certs counter for key, creating it on first use.
func (s *OnDemandState) counter(key string) *certCounter {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts[key]
	if c == nil {
		c = new(certCounter)
		s.counts[key] = c
	}
	return c
}

func (od *onDemand) init(state *OnDemandState) {
	if state == nil {
		state = NewOnDemandState()
	}
	od.state, od.limits = state, &state.limits
}

// defaultAskTimeout bounds an `ask` request; a slower endpoint denies the certificate.
const defaultAskTimeout = 10 * time.Second

// odGroup is the on-demand setup of one EnableOnDemand call: the patterns of a policy's sites, the policy's
// certmagic state, and its own certmagic Config whose decision function and issuer enforce the limits.
type odGroup struct {
	m        *Manager
	od       *onDemand
	pc       *policyConfig
	cfg      *certmagic.Config // serves the group's handshakes; OnDemand set
	patterns []string
	ask      *url.URL     // nil without `ask`: the built-in rate limits apply
	maxCerts int          // 0: no cap (only with ask)
	count    *certCounter // in-memory max_certs count (without cluster limits)
	group    string       // with cluster limits: the name of the group's records in storage
	log      *zap.Logger
}

// EnableOnDemand turns on on-demand TLS for the sites of policy p (which must have `ask` or `max_certs`):
// a TLS handshake for a name matching one of patterns that has no certificate in memory loads it from
// storage, or obtains one from the CA if the decision allows it. A pattern is an exact name, a name with
// wildcard labels (*.example.com matches one label), or "" (or "*") for a catch-all site such as `:443`.
//
// A new certificate is allowed only when `max_certs` (certificates obtained this way over the process
// lifetime) is not reached and, with `ask`, when the ask URL answers 200 for the name; without `ask`, the
// built-in rate limits of the automatic HTTPS page apply as well. Certificates obtained on demand are
// stored like managed ones and renewed both at handshake time and by background maintenance.
//
// Call it once per policy with the hosts of all the sites sharing it: one max_certs cap covers them.
// Calling it again for the same patterns replaces their setup; the max_certs count carries over, also to
// a new Manager sharing the same Options.OnDemand state (a reload).
//
// With Options.ClusterLimits the counts and rate limits are kept in the shared storage instead, so they
// hold for every instance of the cluster and survive restarts; a storage error then denies new
// certificates (certificates already in storage are still served).
func (m *Manager) EnableOnDemand(patterns []string, p *Policy) error {
	if !p.OnDemand() {
		return errors.New("on-demand TLS needs `ask URL` or `max_certs N` in the tls directive")
	}
	var ask *url.URL
	if p.Ask != "" {
		u, err := url.Parse(p.Ask)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("tls ask: %q is not an http(s) URL", p.Ask)
		}
		ask = u
	}
	pats := normalizePatterns(patterns)
	if len(pats) == 0 {
		return errors.New("on-demand TLS: no site address to match names against")
	}
	pc, err := m.policyConfig(p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return errors.New("tls manager is closed")
	}
	if err := m.ensureAccount(m.ctx, pc); err != nil {
		return err
	}

	od := &m.od
	od.mu.Lock()
	defer od.mu.Unlock()
	if od.client == nil {
		client := newAskClient()
		od.client = client
		od.groups = make(map[string]*odGroup)
		if m.opts.ClusterLimits {
			od.cluster = newClusterLimits(m.storage, m.log.Named("on_demand"))
		}
		m.goBackground(func() { // a reload replaces the Manager: do not keep its connections
			<-m.ctx.Done()
			client.CloseIdleConnections()
		})
	}
	key := strings.Join([]string{p.configKey(), p.Ask, strconv.Itoa(p.MaxCerts), strings.Join(pats, ",")}, "\x01")
	count := od.state.counter(key)
	g := &odGroup{m: m, od: od, pc: pc, patterns: pats, ask: ask, maxCerts: p.MaxCerts, count: count,
		group: groupKey(key), log: m.log.Named("on_demand")}
	g.cfg = certmagic.New(m.cache, pc.tmpl)
	g.cfg.Issuers = []certmagic.Issuer{odIssuer{quietIssuer{pc.issuer}, g}}
	g.cfg.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: g.decide}

	for _, pat := range pats {
		od.groups[pat] = g
	}
	od.table.Store(buildTable(od.groups))
	g.log.Info("on-demand TLS enabled", zap.Strings("sites", displayPatterns(pats)),
		zap.String("ask", p.Ask), zap.Int("max_certs", p.MaxCerts), zap.Bool("rate_limits", ask == nil),
		zap.Bool("cluster_wide", od.cluster != nil))
	return nil
}

// getCertificate is the GetCertificate of every TLS configuration: names matching an on-demand site go
// through that site's configuration (which may load or obtain a certificate), all others through pc's.
func (m *Manager) getCertificate(pc *policyConfig) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if t := m.od.table.Load(); t != nil {
			name := hello.ServerName
			if name == "" {
				name = m.opts.DefaultSNI
			}
			if g := t.match(strings.ToLower(name)); g != nil {
				return g.cfg.GetCertificate(hello)
			}
		}
		return pc.cfg.GetCertificate(hello)
	}
}

// onDemandPolicy returns the policy of the on-demand site that covers a certificate's names, or nil; the
// cache asks it (through configForCert) which configuration renews the certificate in the background.
// It must not lock m.mu.
func (m *Manager) onDemandPolicy(names []string) *policyConfig {
	t := m.od.table.Load()
	if t == nil {
		return nil
	}
	for _, n := range names {
		if g := t.match(strings.ToLower(n)); g != nil {
			return g.pc
		}
	}
	return nil
}

// decide is certmagic's DecisionFunc: it runs when a handshake's name has no certificate in memory, before
// loading one from storage or obtaining one, and before a renewal at handshake time. A name already in
// storage is always allowed (loading or renewing costs no new certificate); a new certificate needs the
// max_certs cap not reached and then the ask endpoint's 200, or, without ask, the built-in rate limits.
func (g *odGroup) decide(ctx context.Context, name string) error {
	log := g.log.With(zap.String("name", name))
	if ip := remoteIP(ctx); ip != "" {
		log = log.With(zap.String("remote_ip", ip))
	}
	reg := g.m.opts.Metrics
	deny := func(err error) error {
		reg.ObserveOnDemand(metrics.OnDemandDenied)
		logDenial(log, err)
		return err
	}
	if t := g.od.table.Load(); t == nil || t.match(name) == nil {
		return deny(errors.New("no site with on-demand TLS matches this name"))
	}
	if g.stored(ctx, name) {
		reg.ObserveOnDemand(metrics.OnDemandAllowed)
		log.Info("on-demand certificate allowed", zap.String("reason", "certificate in storage"))
		return nil
	}
	if g.m.isManaged(name) {
		return deny(errors.New("the name is a managed site; its certificate is obtained in the background"))
	}
	if err := g.capCheck(ctx, name); err != nil {
		return deny(err)
	}
	if g.ask == nil {
		if err := g.rateCheck(ctx, name); err != nil {
			if se := (*odStorageError)(nil); errors.As(err, &se) {
				return deny(err)
			}
			reg.ObserveOnDemand(metrics.OnDemandRateLimited)
			logDenial(log, err)
			return err
		}
		reg.ObserveOnDemand(metrics.OnDemandAllowed)
		log.Info("on-demand certificate allowed", zap.String("reason", "within max_certs and rate limits"))
		return nil
	}
	if err := g.askAllowed(ctx, name, remoteIP(ctx)); err != nil {
		return deny(err)
	}
	reg.ObserveOnDemand(metrics.OnDemandAllowed)
	log.Info("on-demand certificate allowed", zap.String("reason", "ask endpoint answered 200"))
	return nil
}

// stored reports whether storage holds a certificate for name from the group's CA.
// An unreachable storage answers false within odStorageTimeout (the limits then decide, failing closed).
func (g *odGroup) stored(ctx context.Context, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, odStorageTimeout)
	defer cancel()
	return g.pc.cfg.Storage.Exists(ctx, certmagic.StorageKeys.SiteCert(g.pc.issuer.IssuerKey(), name))
}

// isManaged reports whether name is a site managed by Manage.
func (m *Manager) isManaged(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.names[name]
	return ok
}

// odIssuer issues on-demand certificates: a new certificate first takes a max_certs slot and, without
// ask, the single challenge slot of the rate limits; renewals of stored certificates pass through.
// Failures are not retried within the handshake (they fail fast; the client may try again).
type odIssuer struct {
	quietIssuer
	g *odGroup
}

// Issue obtains the certificate for csr under the group's limits.
func (i odIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	g := i.g
	name := csr.Subject.CommonName
	if len(csr.DNSNames) > 0 {
		name = csr.DNSNames[0]
	}
	if g.stored(ctx, name) {
		g.log.Info("renewing certificate obtained on demand", zap.String("name", name))
		return i.quietIssuer.Issue(ctx, csr)
	}
	log := g.log.With(zap.String("name", name))
	if ip := remoteIP(ctx); ip != "" {
		log = log.With(zap.String("remote_ip", ip))
	}
	endCount := func(bool) int { return g.count.count() }
	if g.maxCerts > 0 {
		done, err := g.reserve(ctx, name)
		if err != nil {
			logDenial(log, err)
			return nil, certmagic.ErrNoRetry{Err: err}
		}
		endCount = done
	}
	endLimits := func(bool) {}
	if g.ask == nil {
		done, err := g.begin(ctx, name)
		if err != nil {
			endCount(false)
			logDenial(log, err)
			return nil, certmagic.ErrNoRetry{Err: err}
		}
		endLimits = done
	}
	log.Info("on-demand challenge started", zap.String("ca", g.pc.issuer.CA))
	start := time.Now()
	if g.od.cluster != nil { // shared reservations outlive no order: they lapse only after a crash
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, odOrderBound)
		defer cancel()
	}
	cert, err := i.quietIssuer.Issue(ctx, csr)
	endLimits(err == nil)
	obtained := endCount(err == nil)
	if err != nil {
		fields := []zap.Field{zap.Error(err)}
		if g.ask == nil {
			fields = append(fields, zap.Duration("retry_not_before", failedNamePause))
		}
		log.Error("on-demand challenge failed", fields...)
		return nil, certmagic.ErrNoRetry{Err: err}
	}
	log.Info("certificate obtained on demand", zap.Duration("took", time.Since(start)),
		zap.Int("obtained", obtained), zap.Int("max_certs", g.maxCerts))
	return cert, nil
}

// capCheck returns why max_certs refuses a new certificate for name, or nil; it reserves nothing.
func (g *odGroup) capCheck(ctx context.Context, name string) error {
	switch {
	case g.maxCerts <= 0:
		return nil
	case g.od.cluster != nil:
		return g.od.cluster.capCheck(ctx, g.group, name, g.maxCerts)
	case g.count.full(g.maxCerts):
		return fmt.Errorf("max_certs: the limit of %d certificates obtained on demand is reached", g.maxCerts)
	}
	return nil
}

// reserve takes a max_certs slot for name; done settles it and returns the count of certificates obtained.
func (g *odGroup) reserve(ctx context.Context, name string) (done func(ok bool) int, err error) {
	if g.od.cluster != nil {
		return g.od.cluster.reserve(ctx, g.group, name, g.maxCerts, g.patterns)
	}
	end, err := g.count.reserve(g.maxCerts)
	if err != nil {
		return nil, err
	}
	return func(ok bool) int { end(ok); return g.count.count() }, nil
}

// rateCheck returns why the built-in rate limits refuse a challenge for name now, or nil.
func (g *odGroup) rateCheck(ctx context.Context, name string) error {
	if g.od.cluster != nil {
		return g.od.cluster.rateCheck(ctx, name)
	}
	return g.od.limits.check(name)
}

// begin starts a challenge for name under the built-in rate limits; end settles it.
func (g *odGroup) begin(ctx context.Context, name string) (end func(ok bool), err error) {
	if g.od.cluster != nil {
		return g.od.cluster.begin(ctx, name)
	}
	return g.od.limits.begin(name)
}

// logDenial logs why a new certificate was denied: at error level when the shared storage of the cluster
// limits failed (an operator must look), else as a warning.
func logDenial(log *zap.Logger, err error) {
	var se *odStorageError
	if errors.As(err, &se) {
		log.Error("on-demand certificate denied", zap.String("reason", err.Error()))
		return
	}
	log.Warn("on-demand certificate denied", zap.String("reason", err.Error()))
}

// remoteIP returns the client IP of the handshake that ctx belongs to, or "".
func remoteIP(ctx context.Context) string {
	hello, _ := ctx.Value(certmagic.ClientHelloInfoCtxKey).(*tls.ClientHelloInfo)
	if hello == nil || hello.Conn == nil || hello.Conn.RemoteAddr() == nil {
		return ""
	}
	addr := hello.Conn.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// odTable finds the on-demand group of a name: exact names first, then *.parent, then other wildcard
// patterns (most specific first), then the catch-all.
type odTable struct {
	byPattern map[string]*odGroup // exact names
	byParent  map[string]*odGroup // *.parent patterns, by parent
	wild      []wildPattern
	any       *odGroup
}

type wildPattern struct {
	labels []string
	g      *odGroup
}

func buildTable(groups map[string]*odGroup) *odTable {
	t := &odTable{byPattern: make(map[string]*odGroup), byParent: make(map[string]*odGroup)}
	for pat, g := range groups {
		switch {
		case pat == "":
			t.any = g
		case !strings.Contains(pat, "*"):
			t.byPattern[pat] = g
		case strings.HasPrefix(pat, "*.") && !strings.Contains(pat[2:], "*"):
			t.byParent[pat[2:]] = g
		default:
			t.wild = append(t.wild, wildPattern{labels: strings.Split(pat, "."), g: g})
		}
	}
	fixed := func(w wildPattern) int { return len(w.labels) - strings.Count(strings.Join(w.labels, "."), "*") }
	slices.SortFunc(t.wild, func(a, b wildPattern) int { return fixed(b) - fixed(a) })
	return t
}

// match returns the group for a lower-case name, or nil. Names with a wildcard are never matched.
func (t *odTable) match(name string) *odGroup {
	name = strings.TrimSuffix(name, ".")
	if name == "" || strings.Contains(name, "*") {
		return nil
	}
	if g := t.byPattern[name]; g != nil {
		return g
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if g := t.byParent[name[i+1:]]; g != nil {
			return g
		}
	}
	if len(t.wild) > 0 {
		labels := strings.Split(name, ".")
		for _, w := range t.wild {
			if labelsMatch(w.labels, labels) {
				return w.g
			}
		}
	}
	return t.any
}

func labelsMatch(pattern, labels []string) bool {
	if len(pattern) != len(labels) {
		return false
	}
	for i, p := range pattern {
		if p != "*" && p != labels[i] {
			return false
		}
	}
	return true
}

// normalizePatterns lower-cases site hosts and de-duplicates them; "" and "*" become the catch-all "".
func normalizePatterns(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		p = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".")
		if p == "*" {
			p = ""
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func displayPatterns(pats []string) []string {
	out := make([]string, len(pats))
	for i, p := range pats {
		out[i] = cmp.Or(p, "(any name)")
	}
	return out
}
