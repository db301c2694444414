package tlsmgr

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/internal/metrics"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"
)

// LetsEncryptCA is the default ACME directory: Let's Encrypt production.
const LetsEncryptCA = "https://acme-v02.api.letsencrypt.org/directory"

// Options configure a Manager; they come from Casket's command-line flags.
type Options struct {
	StorageDir string // the .casket folder; "" means StoragePath()
	CA         string // -ca: default ACME directory; "" means LetsEncryptCA
	Email      string // -email: default ACME account email
	Agreed     bool   // -agree: the CA's subscriber agreement is accepted
	// CATimeout (-catimeout) bounds how long Casket waits for the CA to validate and finalize one order, and
	// one revocation as a whole; 0 means certmagic's default. Single HTTP requests to the CA always time
	// out after certmagic's fixed 30 seconds (a package-level setting Casket does not touch).
	CATimeout time.Duration

	HTTPPort  int // -http-port: where HTTP-01 challenges arrive (default 80)
	HTTPSPort int // -https-port: where TLS-ALPN-01 challenges arrive (default 443)

	DisableHTTPChallenge    bool   // -disable-http-challenge
	DisableTLSALPNChallenge bool   // -disable-tls-alpn-challenge
	DefaultSNI              string // -default-sni: name assumed when a ClientHello carries no SNI

	// RenewInterval and OCSPInterval set how often certificates are checked for renewal and staples for
	// refresh; zero means certmagic's defaults (10 minutes and 1 hour).
	RenewInterval, OCSPInterval time.Duration

	Logger *zap.Logger // nil means no logging

	// Storage holds certificates, keys, accounts, staples and locks instead of a folder: a shared storage
	// for clustering (see StorageFromEnv). nil means certmagic's FileStorage in StorageDir.
	Storage certmagic.Storage

	// OnDemand keeps on-demand TLS limits and max_certs counts across the Managers of successive reloads,
	// so they reset only when the process exits; nil gives this Manager a fresh one.
	OnDemand *OnDemandState
	// ClusterLimits keeps the on-demand limits (max_certs counts and the built-in rate limits) in Storage,
	// shared by every instance of a cluster, instead of in this process's memory; set it when Storage is
	// shared (CASKET_CLUSTERING is set). A storage error then denies the new certificate.
	ClusterLimits bool

	// Metrics receives ACME order results, the certificates in use with their expiry, OCSP staples, TLS
	// handshakes and on-demand decisions; nil records nothing.
	Metrics *metrics.Registry
	// OnRenewed is called, in its own goroutine, with the name of each certificate renewed (not on first
	// issuance): the `on certrenew` hooks. nil does nothing.
	OnRenewed func(name string)

	watchEvery time.Duration // tests: how often manual certificate files are checked (default 5s)
}

// Manager obtains, renews, loads and serves the certificates of one Casket instance. It owns one
// certmagic Cache; each distinct certificate policy gets its own certmagic Config over that cache.
type Manager struct {
	opts    Options
	log     *zap.Logger
	storage certmagic.Storage
	cache   *certmagic.Cache
	base    *policyConfig // the policy of Options alone (sites without a `tls` directive)
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sem     chan struct{} // bounds concurrent certificate orders

	mu        sync.Mutex
	configs   map[string]*policyConfig // by Policy.configKey
	names     map[string]*policyConfig // managed name → its policy
	obtaining map[string]bool
	manual    map[string]*loadedCert // manual pairs, bundles and self-signed sets, by loadedCert.key
	closed    bool
	refreshMu sync.Mutex // serializes (re)loading of manual and self-signed certificates

	renewEvery time.Duration         // how often renewals and the storage are checked (renewal.go)
	renewMu    sync.Mutex            // guards renewCtx and synced
	renewCtx   context.Context       // background renewals; cancelled by a lost lease
	synced     map[string]syncedCert // managed name → what was loaded from storage
	od         onDemand              // on-demand TLS sites and limits (ondemand.go)

	// Knobs for tests; New sets production values.
	retryIntervals []time.Duration
	watchInterval  time.Duration
	terminal       bool
	stdin          io.Reader
	stderr         io.Writer
	hook           func(event string, data map[string]any)
	lookupEnv      func(string) (string, bool) // DNS provider credentials; nil means os.LookupEnv
}

// policyConfig is the certmagic state for one distinct certificate policy.
type policyConfig struct {
	cfg    *certmagic.Config     // serving, renewal, revocation
	obtain *certmagic.Config     // first issuance only: same cache and storage, never prompts on stdin
	issuer *certmagic.ACMEIssuer // the issuer of cfg
	tmpl   certmagic.Config      // the template of cfg, for on-demand configurations
	email  string

	mu           sync.Mutex
	accountReady bool
}

// maxParallelOrders bounds how many certificates are being obtained at once.
const maxParallelOrders = 4

// defaultRetryIntervals is the backoff between failed attempts to obtain a certificate; the last value
// repeats. Renewals follow certmagic's own schedule.
var defaultRetryIntervals = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
}

// New creates the storage folder if needed and starts background maintenance (renewals, OCSP staples,
// re-reading manual certificates). Call Close to stop it.
func New(opts Options) (*Manager, error) {
	if opts.StorageDir == "" {
		opts.StorageDir = StoragePath()
	}
	if opts.CA == "" {
		opts.CA = LetsEncryptCA
	}
	if opts.HTTPPort == 0 {
		opts.HTTPPort = 80
	}
	if opts.HTTPSPort == 0 {
		opts.HTTPSPort = 443
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	storage := opts.Storage
	if storage == nil {
		if err := prepareStorage(opts.StorageDir); err != nil {
			return nil, err
		}
		storage = &certmagic.FileStorage{Path: opts.StorageDir}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		opts:           opts,
		log:            opts.Logger,
		storage:        storage,
		ctx:            ctx,
		cancel:         cancel,
		sem:            make(chan struct{}, maxParallelOrders),
		configs:        make(map[string]*policyConfig),
		names:          make(map[string]*policyConfig),
		obtaining:      make(map[string]bool),
		manual:         make(map[string]*loadedCert),
		retryIntervals: defaultRetryIntervals,
		watchInterval:  cmp.Or(opts.watchEvery, 5*time.Second),
		renewEvery:     cmp.Or(opts.RenewInterval, certmagic.DefaultRenewCheckInterval),
		terminal:       isTerminal(os.Stdin),
		stdin:          os.Stdin,
		stderr:         os.Stderr,
	}
	m.od.init(opts.OnDemand)
	m.cache = m.newCache()
	base, err := m.policyConfig(nil)
	if err != nil {
		m.cache.Stop()
		cancel()
		return nil, err
	}
	m.base = base
	m.wg.Add(1)
	go m.watch()
	m.goBackground(m.renewLoop)
	m.goBackground(m.cleanStorage)
	return m, nil
}

// cleanStorage removes expired certificates (after two weeks) and stale OCSP staples from storage, a
// minute after start and then twice a day; instances sharing the folder clean it only once per period.
func (m *Manager) cleanStorage() {
	const every = 12 * time.Hour
	wait := time.Minute
	for {
		t := time.NewTimer(wait)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := certmagic.CleanStorage(m.ctx, m.storage, certmagic.CleanStorageOptions{
			Logger: m.log.Named("clean_storage"), Interval: every, OCSPStaples: true,
			ExpiredCerts: true, ExpiredCertGracePeriod: 14 * 24 * time.Hour,
		})
		if err != nil && m.ctx.Err() == nil {
			m.log.Error("cleaning storage", zap.Error(err))
		}
		wait = every
	}
}

// Manage starts managing the certificates for names under policy p (nil means the defaults of Options).
// Certificates already in storage are loaded before Manage returns, so they are served at once without
// contacting the CA; missing ones are obtained in the background, a few at a time, and each failure is
// retried with backoff without affecting other names. Renewal happens in the background. ctx bounds only
// the loading; background work lasts until Close. Manage returns an error only for a configuration
// problem, never for a failed order.
func (m *Manager) Manage(ctx context.Context, names []string, p *Policy) error {
	pc, err := m.policyConfig(p)
	if err != nil {
		return err
	}
	names = normalizeNames(names)
	if names, err = wildcardNames(names, p); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("tls manager is closed")
	}
	for _, n := range names {
		if other, ok := m.names[n]; ok && other != pc {
			m.mu.Unlock()
			return fmt.Errorf("%s: managed twice with different certificate settings (ca, email, key_type, must_staple, dns)", n)
		}
	}
	for _, n := range names {
		m.names[n] = pc
	}
	names = m.dropCovered(names)
	m.mu.Unlock()

	missing := m.loadManaged(ctx, pc, names)
	if len(missing) > 0 {
		if err := m.ensureAccount(ctx, pc); err != nil {
			return err
		}
		m.log.Info("obtaining certificates in the background", zap.Strings("names", missing), zap.String("ca", pc.issuer.CA))
		for _, n := range missing {
			m.startObtain(n, pc)
		}
	}
	if len(missing) < len(names) {
		// certificates loaded from storage may already be due for renewal (or ARI may say so)
		m.goBackground(m.renewDue)
	}
	return nil
}

// loadManaged loads the certificates of names from storage into the cache, in parallel, and returns the
// names that have none.
func (m *Manager) loadManaged(ctx context.Context, pc *policyConfig, names []string) []string {
	var (
		mu      sync.Mutex
		missing []string
		wg      sync.WaitGroup
		sem     = make(chan struct{}, 16)
	)
	for _, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cert, err := pc.cfg.CacheManagedCertificate(ctx, n)
			if err == nil {
				m.noteLoaded(n, cert)
				return
			}
			if !errors.Is(err, fs.ErrNotExist) {
				m.log.Error("loading certificate from storage; will obtain a new one", zap.String("name", n), zap.Error(err))
			}
			mu.Lock()
			missing = append(missing, n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return missing
}

// startObtain runs the obtain loop for name unless one is already running.
func (m *Manager) startObtain(name string, pc *policyConfig) {
	m.mu.Lock()
	if m.obtaining[name] || m.closed {
		m.mu.Unlock()
		return
	}
	m.obtaining[name] = true
	m.mu.Unlock()
	m.goBackground(func() {
		defer func() {
			m.mu.Lock()
			delete(m.obtaining, name)
			m.mu.Unlock()
		}()
		m.obtainLoop(name, pc)
	})
}

// obtainLoop obtains a certificate for name, retrying with backoff until it succeeds or Close is called.
func (m *Manager) obtainLoop(name string, pc *policyConfig) {
	for attempt := 0; ; attempt++ {
		select {
		case m.sem <- struct{}{}:
		case <-m.ctx.Done():
			return
		}
		start := time.Now()
		err := m.obtainFenced(pc, name)
		if err == nil {
			var cert certmagic.Certificate
			if cert, err = pc.cfg.CacheManagedCertificate(m.ctx, name); err == nil {
				m.noteLoaded(name, cert)
			}
		}
		<-m.sem
		if err == nil {
			m.log.Info("certificate ready", zap.String("name", name), zap.Duration("took", time.Since(start)))
			return
		}
		if m.ctx.Err() != nil {
			return
		}
		wait := m.retryIntervals[min(attempt, len(m.retryIntervals)-1)]
		m.log.Error("could not obtain certificate; the site gets no certificate until a retry succeeds",
			zap.String("name", name), zap.Int("attempt", attempt+1), zap.Duration("retry_in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-m.ctx.Done():
			t.Stop()
			return
		}
	}
}

// obtainFenced obtains a certificate for name and stops the order if the storage reports that this
// instance lost its lock on the name (see cluster.WithLeaseLost): another instance then owns the order.
func (m *Manager) obtainFenced(pc *policyConfig, name string) error {
	ctx, cancel := context.WithCancelCause(m.ctx)
	defer cancel(nil)
	ctx = cluster.WithLeaseLost(ctx, func(lock string) {
		cancel(fmt.Errorf("%w: %s", cluster.ErrLeaseLost, lock))
	})
	err := pc.obtain.ObtainCertSync(ctx, name)
	if err != nil && context.Cause(ctx) != nil && m.ctx.Err() == nil {
		return fmt.Errorf("%w (order abandoned)", context.Cause(ctx))
	}
	return err
}

// TLSConfig returns a TLS configuration for a listener serving sites under policy p (nil for defaults):
// certificates chosen by SNI (DefaultSNI when there is none), ALPN with acme-tls/1 for TLS-ALPN-01, and the
// protocols, ciphers, curves and client authentication of p.
func (m *Manager) TLSConfig(p *Policy) *tls.Config {
	pc, err := m.policyConfig(p)
	if err != nil {
		m.log.Error("tls policy unusable; serving with defaults", zap.Error(err))
		pc = m.base
	}
	tc := &tls.Config{
		GetCertificate: m.getCertificate(pc), // on-demand sites first (ondemand.go)
		MinVersion:     tls.VersionTLS12,
	}
	alpn := []string{"h2", "http/1.1"}
	if p != nil {
		if len(p.ALPN) > 0 {
			alpn = p.ALPN
		}
		if p.MinVersion != 0 {
			tc.MinVersion = p.MinVersion
		}
		tc.MaxVersion = p.MaxVersion
		tc.CipherSuites = p.Ciphers
		tc.CurvePreferences = p.Curves
		tc.ClientAuth = p.ClientAuth
		tc.ClientCAs = p.ClientCAs
	}
	tc.NextProtos = append(append([]string(nil), alpn...), acmez.ACMETLS1Protocol)
	return m.opts.Metrics.InstrumentTLS(tc) // once per config; a nil registry returns tc
}

// HandleHTTPChallenge answers an ACME HTTP-01 challenge request and reports whether it did. The HTTP
// server calls it before anything else (redirects included) for every request on the HTTP port.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !certmagic.LooksLikeHTTPChallenge(r) {
		return false
	}
	for _, pc := range m.allConfigs() {
		if pc.issuer.HandleHTTPChallenge(w, r) {
			return true
		}
	}
	return false
}

// Close stops obtaining, renewing and watching certificates. Certificates stay in storage.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.cache.Stop()
	return nil
}

// goBackground runs f in a goroutine that Close waits for.
func (m *Manager) goBackground(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// policyConfig returns the certmagic configuration for p, creating it on first use.
func (m *Manager) policyConfig(p *Policy) (*policyConfig, error) {
	key := p.configKey()
	m.mu.Lock()
	defer m.mu.Unlock()
	if pc, ok := m.configs[key]; ok {
		return pc, nil
	}
	var dns01 *certmagic.DNS01Solver
	if p != nil && p.DNSProvider != "" {
		var err error
		if dns01, err = m.dnsSolver(p); err != nil {
			return nil, err
		}
	}
	ca, email := m.opts.CA, m.opts.Email
	var roots *x509.CertPool
	if p != nil {
		if p.CA != "" {
			ca = p.CA
		}
		if p.Email != "" {
			email = p.Email
		}
		if p.CARoot != "" {
			var err error
			if roots, err = caRoots(p.CARoot); err != nil {
				return nil, fmt.Errorf("tls ca_root: %w", err)
			}
		}
	}
	tmpl := certmagic.Config{
		RenewalWindowRatio: 1.0 / 3,
		OnEvent:            m.event,
		ShouldEmitFunc:     shouldEmit,
		DefaultServerName:  m.opts.DefaultSNI,
		MustStaple:         p != nil && p.MustStaple,
		KeySource:          certmagic.StandardKeyGenerator{KeyType: certmagic.KeyType(p.keyType())},
		Storage:            m.storage,
		OCSP:               certmagic.OCSPConfig{HTTPProxy: http.ProxyFromEnvironment}, // gives OCSP fetches a timeout
		Logger:             m.log.Named("certmagic"),
	}
	pc := &policyConfig{email: email, tmpl: tmpl}
	pc.cfg = certmagic.New(m.cache, tmpl)
	pc.issuer = certmagic.NewACMEIssuer(pc.cfg, certmagic.ACMEIssuer{
		CA:                      ca,
		TestCA:                  ca, // never switch to another CA on retries
		Email:                   email,
		Agreed:                  m.opts.Agreed,
		TrustedRoots:            roots,
		DisableHTTPChallenge:    m.opts.DisableHTTPChallenge,
		DisableTLSALPNChallenge: m.opts.DisableTLSALPNChallenge,
		AltHTTPPort:             m.opts.HTTPPort,
		AltTLSALPNPort:          m.opts.HTTPSPort,
		CertObtainTimeout:       m.opts.CATimeout,
		Logger:                  m.log.Named("acme"),
	})
	if dns01 != nil {
		pc.issuer.DNS01Solver = dns01 // used exclusively: no HTTP-01 or TLS-ALPN-01 for this policy
	}
	pc.cfg.Issuers = []certmagic.Issuer{pc.issuer}
	pc.obtain = certmagic.New(m.cache, tmpl)
	pc.obtain.Issuers = []certmagic.Issuer{quietIssuer{pc.issuer}}
	m.configs[key] = pc
	return pc, nil
}

// configForCert tells the cache which configuration maintains a managed certificate.
func (m *Manager) configForCert(cert certmagic.Certificate) (*certmagic.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range cert.Names {
		if pc, ok := m.names[strings.ToLower(n)]; ok {
			return pc.cfg, nil
		}
	}
	if pc := m.onDemandPolicy(cert.Names); pc != nil {
		return pc.cfg, nil // obtained on demand: renewed in the background like managed ones
	}
	if m.base == nil {
		return nil, errors.New("tls manager is not ready")
	}
	return m.base.cfg, nil
}

// allConfigs returns every policy configuration, the defaults first.
func (m *Manager) allConfigs() []*policyConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*policyConfig, 0, len(m.configs))
	out = append(out, m.base)
	for _, pc := range m.configs {
		if pc != m.base {
			out = append(out, pc)
		}
	}
	return out
}

// event receives certmagic's events; it logs nothing itself (certmagic logs) and feeds test hooks.
func (m *Manager) event(_ context.Context, event string, data map[string]any) error {
	m.observeEvent(event, data)
	if m.hook != nil {
		m.hook(event, data)
	}
	return nil
}

// shouldEmit keeps the per-handshake event off the hot path.
func shouldEmit(event string) bool { return event != "tls_get_certificate" }

// quietIssuer is the ACME issuer used for first issuance: its PreCheck never prompts on stdin (Casket
// asks for an email itself, only on a terminal).
type quietIssuer struct{ *certmagic.ACMEIssuer }

// PreCheck checks names without ever prompting.
func (q quietIssuer) PreCheck(ctx context.Context, names []string, _ bool) error {
	return q.ACMEIssuer.PreCheck(ctx, names, false)
}

// caRoots returns the system roots (which honour SSL_CERT_FILE) plus the certificates in file.
func caRoots(file string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s: no PEM certificate found", file)
	}
	return pool, nil
}

// normalizeNames lower-cases and de-duplicates names, dropping empty ones.
func normalizeNames(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}
