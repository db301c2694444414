package tlsmgr

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Background renewal.
//
// certmagic's Cache checks for due renewals on its own ticker, with a context nobody can cancel. Casket
// runs that check itself instead (renewLoop), with a context that is cancelled when the storage reports
// a lost lock lease (cluster.WithLeaseLost), so an instance whose lock was taken over stops its renewal
// instead of finishing it next to the new holder. The same loop first picks up certificates another
// instance renewed or replaced in the shared storage (syncFromStorage), so every instance serves them
// within one interval, also when they were renewed early.
//
// The cache's ticker is made from the options of the moment its maintenance goroutine starts. So the
// cache is created with a renewal interval that never elapses, and the real one, which certmagic also
// uses to judge how close to expiry (or to the ARI window) it may get, is set once the goroutine has
// announced its start in the log (see maintenanceWatch). The OCSP ticker is left to the cache.

// neverInterval is the renewal interval the cache's own ticker is created with.
const neverInterval = 100 * 365 * 24 * time.Hour

// maintenanceStarted is what certmagic's maintenance goroutine logs once its tickers exist.
const maintenanceStarted = "started background certificate maintenance"

// newCache creates the Manager's certmagic cache with its renewal ticker switched off; it returns once the
// real renewal interval is in place.
func (m *Manager) newCache() *certmagic.Cache {
	started := make(chan struct{})
	var once sync.Once
	opts := certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: neverInterval,
		OCSPCheckInterval:  m.opts.OCSPInterval,
		Logger:             zap.New(maintenanceWatch{Core: m.log.Named("cache").Core(), started: func() { once.Do(func() { close(started) }) }}).Named("cache"),
	}
	c := certmagic.NewCache(opts)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		m.log.Warn("certificate maintenance did not announce its start; background renewals may not stop when a lock lease is lost")
	}
	opts.RenewCheckInterval = m.renewEvery
	c.SetOptions(opts)
	return c
}

// maintenanceWatch is a zap core that reports certmagic's maintenance start and passes every entry on to
// Core as usual.
type maintenanceWatch struct {
	zapcore.Core
	started func()
}

// Enabled lets Info entries reach Check even when Core drops them, so the start is seen with logging off.
func (w maintenanceWatch) Enabled(l zapcore.Level) bool {
	return l >= zapcore.InfoLevel || w.Core.Enabled(l)
}

// With keeps watching in derived loggers.
func (w maintenanceWatch) With(fields []zapcore.Field) zapcore.Core {
	return maintenanceWatch{Core: w.Core.With(fields), started: w.started}
}

// Check notes the start message and defers to Core.
func (w maintenanceWatch) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == maintenanceStarted {
		w.started()
	}
	if !w.Core.Enabled(e.Level) {
		return ce
	}
	return w.Core.Check(e, ce)
}

// renewLoop checks, every renewal interval until Close, for certificates renewed elsewhere and then for
// certificates due for renewal.
func (m *Manager) renewLoop() {
	t := time.NewTicker(m.renewEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.syncFromStorage(m.ctx)
		m.renewDue()
	}
}

// renewDue starts the renewal of every managed certificate that is due (certmagic runs each in the
// background, after checking that the stored copy is not renewed already).
func (m *Manager) renewDue() {
	if err := m.cache.RenewManagedCertificates(m.renewalContext()); err != nil && m.ctx.Err() == nil {
		m.log.Error("checking certificates for renewal", zap.Error(err))
	}
}

// renewalContext returns the context of background renewals. A lost lease of any lock taken under it
// cancels it, which stops the renewals in flight (they are retried on certmagic's backoff schedule); a
// fresh context then serves the next rounds.
func (m *Manager) renewalContext() context.Context {
	m.renewMu.Lock()
	defer m.renewMu.Unlock()
	if m.renewCtx != nil && m.renewCtx.Err() == nil {
		return m.renewCtx
	}
	ctx, cancel := context.WithCancelCause(m.ctx)
	m.renewCtx = cluster.WithLeaseLost(ctx, func(lock string) {
		m.log.Error("lock lease lost during a background renewal; stopping the renewals in flight",
			zap.String("lock", lock))
		cancel(fmt.Errorf("%w: %s", cluster.ErrLeaseLost, lock))
	})
	return m.renewCtx
}

// syncedCert is what the Manager knows of a managed certificate in memory and its stored copy.
type syncedCert struct {
	hash     string    // the certificate in memory
	loadedAt time.Time // when it was read from storage
	modified time.Time // the stored copy's modification time when last compared; zero before
}

// noteLoaded records that cert was loaded from storage for name.
func (m *Manager) noteLoaded(name string, cert certmagic.Certificate) {
	m.renewMu.Lock()
	defer m.renewMu.Unlock()
	if m.synced == nil {
		m.synced = make(map[string]syncedCert)
	}
	m.synced[name] = syncedCert{hash: cert.Hash(), loadedAt: time.Now()}
}

// syncFromStorage replaces in memory every managed certificate whose stored copy was rewritten by a newer
// certificate since it was loaded: another instance renewed it (maybe early, on ARI advice or by force),
// or this instance's own renewal already did so. Only the stored copy's modification time is read unless
// it changed.
func (m *Manager) syncFromStorage(ctx context.Context) {
	m.mu.Lock()
	names := make(map[string]*policyConfig, len(m.names))
	for n, pc := range m.names {
		names[n] = pc
	}
	m.mu.Unlock()
	for name, pc := range names {
		if ctx.Err() != nil {
			return
		}
		m.renewMu.Lock()
		sc, ok := m.synced[name]
		m.renewMu.Unlock()
		if !ok {
			continue // not loaded yet, or covered by a wildcard certificate
		}
		info, err := m.storage.Stat(ctx, certmagic.StorageKeys.SiteCert(pc.issuer.IssuerKey(), name))
		if err != nil {
			m.log.Debug("checking stored certificate", zap.String("name", name), zap.Error(err))
			continue
		}
		unchanged := info.Modified.Equal(sc.modified)
		if sc.modified.IsZero() {
			// first comparison: a copy written well before the load is the one in memory
			unchanged = info.Modified.Before(sc.loadedAt.Add(-time.Minute))
		}
		if !unchanged {
			sc.hash = m.adoptStored(ctx, pc, name, sc.hash)
		}
		sc.modified = info.Modified
		m.renewMu.Lock()
		m.synced[name] = sc
		m.renewMu.Unlock()
	}
}

// adoptStored loads the stored certificate of name and serves it instead of the one in memory (hash old)
// if it is newer. It returns the hash of the certificate served afterwards.
func (m *Manager) adoptStored(ctx context.Context, pc *policyConfig, name, old string) string {
	var oldCert certmagic.Certificate
	before := make(map[string]bool)
	for _, c := range m.cache.AllMatchingCertificates(name) {
		before[c.Hash()] = true
		if c.Hash() == old {
			oldCert = c
		}
	}
	stored, err := pc.cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		m.log.Warn("loading a certificate changed in storage", zap.String("name", name), zap.Error(err))
		return old
	}
	if stored.Hash() == old {
		return old
	}
	if oldCert.Leaf == nil && before[stored.Hash()] {
		return stored.Hash() // renewed by this instance, which already serves it
	}
	if oldCert.Leaf != nil && stored.Leaf != nil && !stored.Leaf.NotBefore.After(oldCert.Leaf.NotBefore) {
		// the stored copy is not newer than the one served: keep serving that one
		if !before[stored.Hash()] {
			m.cache.Remove([]string{stored.Hash()})
		}
		return old
	}
	if oldCert.Leaf != nil {
		m.cache.Remove([]string{old})
	}
	m.log.Info("serving the newer certificate found in storage (renewed by another instance)",
		zap.String("name", name), zap.Time("expires", stored.Leaf.NotAfter))
	return stored.Hash()
}
