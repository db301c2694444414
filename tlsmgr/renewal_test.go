package tlsmgr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// storeManaged writes a certificate for name valid from notBefore to notAfter into s, as an obtained
// certificate of the CA with issuerKey would be stored, and returns its serial.
func storeManaged(t *testing.T, s certmagic.Storage, issuerKey, name string, serial int64, notBefore, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	meta, _ := json.Marshal(map[string]any{"sans": []string{name}})
	ctx := context.Background()
	for k, v := range map[string][]byte{
		certmagic.StorageKeys.SiteCert(issuerKey, name):       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certmagic.StorageKeys.SitePrivateKey(issuerKey, name): pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		certmagic.StorageKeys.SiteMeta(issuerKey, name):       meta,
	} {
		if err := s.Store(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	return big.NewInt(serial).String()
}

// A certificate another instance renewed (here: written to the shared storage by the test) is served by
// every instance within one check interval, even though none of them found it due; an older certificate
// written later does not replace a newer one. Each storage of CASKET_CLUSTERING is tried.
func TestSyncServesCertificateRenewedElsewhere(t *testing.T) {
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			if b.name != "file" {
				skipShort(t)
			}
			env, _, _ := b.start(t)
			testSync(t, env)
		})
	}
}

func testSync(t *testing.T, env map[string]string) {
	dir := t.TempDir()
	open := func() certmagic.Storage {
		s, err := StorageFromEnv(context.Background(), envMap(env), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeStorage(s) })
		return s
	}
	storage := open()
	var ms []*Manager
	for range 2 {
		s := open()
		ms = append(ms, newTestManager(t, func(o *Options) {
			o.Storage = s
			o.RenewInterval = 100 * time.Millisecond
		}))
	}
	issuerKey := ms[0].base.issuer.IssuerKey()
	name := fmt.Sprintf("sync%d.casket.test", time.Now().UnixNano())
	now := time.Now()
	first := storeManaged(t, storage, issuerKey, name, 1, now.Add(-time.Hour), now.Add(60*24*time.Hour))
	for _, m := range ms {
		if err := m.Manage(context.Background(), []string{name}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, ms, nil, []string{name}, time.Second, func(_ int, _, s string) bool { return s == first })

	renewed := storeManaged(t, storage, issuerKey, name, 2, now, now.Add(90*24*time.Hour))
	waitServed(t, ms, nil, []string{name}, 5*time.Second, func(_ int, _, s string) bool { return s == renewed })

	storeManaged(t, storage, issuerKey, name, 3, now.Add(-2*time.Hour), now.Add(30*24*time.Hour))
	time.Sleep(500 * time.Millisecond) // several check intervals
	waitServed(t, ms, nil, []string{name}, time.Second, func(_ int, _, s string) bool { return s == renewed })
	for i, m := range ms {
		if n := len(m.cache.AllMatchingCertificates(name)); n != 1 {
			t.Errorf("instance %d holds %d certificates for %s in memory, want 1", i, n, name)
		}
	}
}

// lockSpy reports every issuance lock as lost at once and records whether the lock's context carried a
// lease-lost function and whether the work under it stopped.
type lockSpy struct {
	certmagic.Storage
	mu                          sync.Mutex
	withHook, withoutHook, stop int
}

func (s *lockSpy) Lock(ctx context.Context, name string) error {
	if !strings.HasPrefix(name, cluster.IssueLockPrefix) {
		return s.Storage.Lock(ctx, name)
	}
	lost := cluster.LeaseLostFunc(ctx)
	s.mu.Lock()
	if lost == nil {
		s.withoutHook++
	} else {
		s.withHook++
	}
	s.mu.Unlock()
	if lost == nil {
		return errors.New("no lease-lost function in the lock context")
	}
	lost(name)
	select {
	case <-ctx.Done():
		s.mu.Lock()
		s.stop++
		s.mu.Unlock()
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return errors.New("the renewal went on after its lease was lost")
	}
}

func (s *lockSpy) counts() (with, without, stopped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.withHook, s.withoutHook, s.stop
}

// A background renewal runs under a context that a lost lease cancels, and certmagic's own renewal ticker
// (whose context cannot be cancelled) never starts one.
func TestBackgroundRenewalStopsOnLostLease(t *testing.T) {
	spy := &lockSpy{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	m := newTestManager(t, func(o *Options) {
		o.Storage = spy
		o.RenewInterval = 100 * time.Millisecond
	})
	name := "due.casket.test"
	now := time.Now()
	storeManaged(t, spy, m.base.issuer.IssuerKey(), name, 1, now.Add(-10*time.Hour), now.Add(time.Hour))
	if err := m.Manage(context.Background(), []string{name}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, stopped := spy.counts(); stopped > 0 {
			break
		}
		if time.Now().After(deadline) {
			with, without, _ := spy.counts()
			t.Fatalf("no renewal stopped on a lost lease (locks with hook %d, without %d)", with, without)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // ten check intervals
	if _, without, _ := spy.counts(); without > 0 {
		t.Errorf("%d renewal(s) ran under a context without the lease-lost function", without)
	}
}

// The cache's own renewal ticker is switched off only if certmagic still announces the start of its
// maintenance with the message Casket waits for; a certmagic upgrade that changes it fails here.
func TestCacheRenewalTickerSwitchedOff(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	start := time.Now()
	newTestManager(t, func(o *Options) { o.Logger = zap.New(core) })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("New took %v waiting for certificate maintenance to start", d)
	}
	if n := logs.FilterMessageSnippet("did not announce its start").Len(); n != 0 {
		t.Errorf("the start of certmagic's maintenance was not seen (%d warnings)", n)
	}
	for i := 0; i < 100 && logs.FilterMessage(maintenanceStarted).Len() == 0; i++ {
		time.Sleep(10 * time.Millisecond) // the entry is written just after New saw it
	}
	if n := logs.FilterMessage(maintenanceStarted).Len(); n != 1 {
		t.Errorf("%q logged %d times, want once (passed on to Casket's log)", maintenanceStarted, n)
	}
}
