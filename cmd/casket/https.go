package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/metrics"
	"github.com/casketserver/casket/tlsmgr"
)

// autoHTTPS is the certificate side of one instance: the tlsmgr.Manager that serves its TLS sites.
// Each instance (the first one and every reload) has its own; it is created after Build, only when some
// site serves TLS, and closed after its instance stopped.
type autoHTTPS struct {
	c   *config
	log *zap.Logger
	mgr atomic.Pointer[tlsmgr.Manager]
}

// assignPort is the httpserver.Options.AssignPort hook for sites that name neither port nor scheme:
// a site qualifying for a managed certificate (or asking for on-demand TLS) moves to the HTTPS port;
// a site with a certificate of the user's or `self_signed` keeps the default port but serves TLS.
func assignPort(c *config) func(s *httpserver.Site) string {
	return func(s *httpserver.Site) string {
		p := s.TLS
		if p != nil && p.Off {
			return ""
		}
		if tlsmgr.Qualifies(s.Addr.Host, "", "", p, c.HTTPPort) || p.OnDemand() {
			s.Addr.Scheme = "https"
			return c.HTTPSPort
		}
		if p != nil && (p.SelfSigned || len(p.Manual) > 0 || len(p.LoadDirs) > 0) {
			s.Addr.Scheme = "https"
		}
		return ""
	}
}

// intercept answers ACME HTTP-01 challenges on every plain-HTTP listener, before redirects and virtual
// hosts.
func (a *autoHTTPS) intercept(w http.ResponseWriter, r *http.Request) bool {
	m := a.mgr.Load()
	return m != nil && m.HandleHTTPChallenge(w, r)
}

// managerOptions maps the command-line flags to the certificate manager's options.
func managerOptions(c *config, logger *zap.Logger) (tlsmgr.Options, error) {
	httpPort, err := strconv.Atoi(c.HTTPPort)
	if err != nil {
		return tlsmgr.Options{}, fmt.Errorf("invalid -http-port %q", c.HTTPPort)
	}
	httpsPort, err := strconv.Atoi(c.HTTPSPort)
	if err != nil {
		return tlsmgr.Options{}, fmt.Errorf("invalid -https-port %q", c.HTTPSPort)
	}
	return tlsmgr.Options{
		StorageDir:              tlsmgr.StoragePath(),
		CA:                      c.CA,
		Email:                   c.Email,
		Agreed:                  c.Agree,
		CATimeout:               c.CATimeout,
		HTTPPort:                httpPort,
		HTTPSPort:               httpsPort,
		DisableHTTPChallenge:    c.DisableHTTPChallenge,
		DisableTLSALPNChallenge: c.DisableTLSALPNChallenge,
		DefaultSNI:              c.DefaultSNI,
		Logger:                  logger.Named("tls"),
	}, nil
}

// prepare creates the Manager when a site of in serves TLS, loads the user's and self-signed
// certificates and gives every TLS site the Manager's TLS config. It contacts no CA.
func (a *autoHTTPS) prepare(in *httpserver.Instance, store *certStorage) error {
	var tlsSites []*httpserver.Site
	for _, s := range in.Sites() {
		if s.TLSConfig != nil {
			tlsSites = append(tlsSites, s)
		}
	}
	if len(tlsSites) == 0 {
		return nil
	}
	opts, err := managerOptions(a.c, a.log)
	if err != nil {
		return err
	}
	if opts.Storage, err = store.get(a.log); err != nil {
		return err
	}
	opts.OnDemand = store.onDemand
	opts.ClusterLimits = os.Getenv("CASKET_CLUSTERING") != "" // instances share the storage: so do the on-demand limits
	opts.Metrics = store.metrics
	opts.OnRenewed = store.onRenewed
	m, err := tlsmgr.New(opts)
	if err != nil {
		return fmt.Errorf("starting certificate manager: %w", err)
	}
	var errs []error
	for _, s := range tlsSites {
		p := s.TLS
		s.TLSConfig = m.TLSConfig(p)
		if p == nil {
			continue
		}
		for _, pair := range p.Manual {
			if err := m.LoadPair(pair.Cert, pair.Key); err != nil {
				errs = append(errs, fmt.Errorf("site %s: %w", s.Addr.Key(), err))
			}
		}
		for _, dir := range p.LoadDirs {
			if err := m.LoadDir(dir); err != nil {
				errs = append(errs, fmt.Errorf("site %s: %w", s.Addr.Key(), err))
			}
		}
		if p.SelfSigned {
			var names []string
			if s.Addr.Host != "" {
				names = []string{s.Addr.Host}
			}
			if err := m.SelfSigned(names); err != nil {
				errs = append(errs, fmt.Errorf("site %s: %w", s.Addr.Key(), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = m.Close()
		return err
	}
	a.mgr.Store(m)
	return nil
}

// manage starts managing the certificates of the sites that qualify: stored ones are loaded before it
// returns, missing ones are obtained in the background (a failing name never stops the others). Sites
// with on-demand TLS (`ask`, `max_certs`) get their certificates during handshakes instead.
func (a *autoHTTPS) manage(ctx context.Context, in *httpserver.Instance) error {
	m := a.mgr.Load()
	if m == nil {
		return nil
	}
	var errs []error
	for _, s := range in.Sites() {
		if s.TLSConfig == nil {
			continue
		}
		if s.TLS.OnDemand() {
			// Certificates are obtained during the first handshake for a name, not now.
			if err := m.EnableOnDemand([]string{s.Addr.Host}, s.TLS); err != nil {
				errs = append(errs, fmt.Errorf("site %s: %w", s.Addr.Key(), err))
			}
			continue
		}
		if !httpserver.ManagedTLS(s, a.c.HTTPPort) {
			if s.TLS == nil || (!s.TLS.SelfSigned && len(s.TLS.Manual) == 0 && len(s.TLS.LoadDirs) == 0) {
				a.log.Warn("site serves HTTPS without a certificate source; TLS handshakes will fail "+
					"(use tls self_signed, tls CERT KEY, or a host name that qualifies for automatic HTTPS)",
					zap.String("site", s.Addr.String()))
			}
			continue
		}
		if err := m.Manage(ctx, []string{s.Addr.Host}, s.TLS); err != nil {
			errs = append(errs, fmt.Errorf("site %s: %w", s.Addr.Key(), err))
		}
	}
	return errors.Join(errs...)
}

// close stops the Manager, if any.
func (a *autoHTTPS) close() {
	if m := a.mgr.Swap(nil); m != nil {
		if err := m.Close(); err != nil {
			a.log.Warn("closing certificate manager", zap.Error(err))
		}
	}
}

// certStorage is the process-wide TLS state the Managers of successive reloads share: the certificate
// storage, chosen by CASKET_CLUSTERING (a folder by default) and opened on first use, so a configuration
// without TLS sites touches no storage at all; and the on-demand TLS limits and max_certs counts.
type certStorage struct {
	mu       sync.Mutex
	s        certmagic.Storage
	onDemand *tlsmgr.OnDemandState

	metrics   *metrics.Registry // the process's metrics, fed by every Manager; nil records nothing
	onRenewed func(name string) // the `on certrenew` hooks; nil does nothing
}

func newCertStorage() *certStorage { return &certStorage{onDemand: tlsmgr.NewOnDemandState()} }

// get opens the storage on first use.
func (cs *certStorage) get(logger *zap.Logger) (certmagic.Storage, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.s != nil {
		return cs.s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := tlsmgr.StorageFromEnv(ctx, os.Getenv, tlsmgr.StoragePath(), logger.Named("tls"))
	if err != nil {
		return nil, fmt.Errorf("opening certificate storage: %w", err)
	}
	cs.s = s
	return s, nil
}

// close releases this process's locks in the storage and closes it. It runs once, on exit: locks are
// process-wide in certmagic.
func (cs *certStorage) close(logger *zap.Logger) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	certmagic.CleanUpOwnLocks(ctx, logger.Named("tls"))
	if c, ok := cs.s.(io.Closer); ok {
		if err := c.Close(); err != nil {
			logger.Warn("closing certificate storage", zap.Error(err))
		}
	}
	cs.s = nil
}

// runRevoke revokes the managed certificate of c.Revoke with its CA (-ca) and deletes its files (-revoke).
func runRevoke(c *config, store *certStorage, logger *zap.Logger, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "casket: -revoke %s: %v\n", c.Revoke, err)
		return exitStartup
	}
	opts, err := managerOptions(c, logger)
	if err != nil {
		return fail(err)
	}
	if opts.Storage, err = store.get(logger); err != nil {
		return fail(err)
	}
	m, err := tlsmgr.New(opts)
	if err != nil {
		return fail(err)
	}
	defer m.Close()
	if err := m.Revoke(context.Background(), c.Revoke); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "Revoked certificate for %s; its files are deleted\n", c.Revoke)
	return exitOK
}
