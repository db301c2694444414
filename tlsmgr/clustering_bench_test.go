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
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// benchCA is an ACME directory nobody answers: start-up must not need the CA.
const benchCA = "https://127.0.0.1:9/directory"

// fillStorage writes n valid certificates (cert, key, metadata) for CA benchCA into s.
func fillStorage(b *testing.B, s certmagic.Storage, issuerKey string, n int) []string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	names := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	ctx := context.Background()
	for i := range names {
		names[i] = fmt.Sprintf("site%05d.bench.test", i)
		wg.Add(1)
		sem <- struct{}{}
		go func(name string, serial int64) {
			defer func() { <-sem; wg.Done() }()
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(60 * 24 * time.Hour),
			}
			cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				b.Error(err)
				return
			}
			meta, _ := json.Marshal(map[string]any{"sans": []string{name}})
			for k, v := range map[string][]byte{
				certmagic.StorageKeys.SiteCert(issuerKey, name):       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}),
				certmagic.StorageKeys.SitePrivateKey(issuerKey, name): keyPEM,
				certmagic.StorageKeys.SiteMeta(issuerKey, name):       meta,
			} {
				if err := s.Store(ctx, k, v); err != nil {
					b.Error(err)
					return
				}
			}
		}(names[i], int64(i+1))
	}
	wg.Wait()
	return names
}

// BenchmarkStartup10k measures how long a Manager takes to load 10,000 certificates from each storage into
// memory (Manage returns once all are loaded), and the heap they take.
func BenchmarkStartup10k(b *testing.B) {
	const n = 10000
	for _, cb := range clusterBackends {
		b.Run(cb.name, func(b *testing.B) {
			env, _, _ := cb.start(b)
			dir := b.TempDir()
			newManager := func() (*Manager, certmagic.Storage) {
				s, err := StorageFromEnv(context.Background(), envMap(env), dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				m, err := New(Options{StorageDir: dir, Storage: s, CA: benchCA, Email: "ops@casket.test", Agreed: true})
				if err != nil {
					b.Fatal(err)
				}
				return m, s
			}
			m, s := newManager()
			names := fillStorage(b, s, m.base.issuer.IssuerKey(), n)
			m.Close()
			closeStorage(s)
			b.ResetTimer()
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				m, s := newManager()
				if err := m.Manage(context.Background(), names, nil); err != nil {
					b.Fatal(err)
				}
				took := time.Since(start)
				runtime.GC()
				runtime.ReadMemStats(&after)
				if got := len(m.cache.AllMatchingCertificates("site00001.bench.test")); got != 1 {
					b.Fatalf("%d certificates cached for one name, want 1", got)
				}
				b.ReportMetric(took.Seconds(), "s/startup")
				b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/(1<<20), "MB-heap")
				m.Close()
				closeStorage(s)
			}
		})
	}
}

// BenchmarkSync10k measures one storage check of the renewal loop (syncFromStorage) over 10,000 managed
// certificates in each storage, none of them changed: one Stat per certificate.
func BenchmarkSync10k(b *testing.B) {
	const n = 10000
	for _, cb := range clusterBackends {
		b.Run(cb.name, func(b *testing.B) {
			env, _, _ := cb.start(b)
			dir := b.TempDir()
			s, err := StorageFromEnv(context.Background(), envMap(env), dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer closeStorage(s)
			m, err := New(Options{StorageDir: dir, Storage: s, CA: benchCA, Email: "ops@casket.test", Agreed: true,
				RenewInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			names := fillStorage(b, s, m.base.issuer.IssuerKey(), n)
			if err := m.Manage(context.Background(), names, nil); err != nil {
				b.Fatal(err)
			}
			m.syncFromStorage(context.Background()) // first comparison
			b.ResetTimer()
			for range b.N {
				m.syncFromStorage(context.Background())
			}
			b.StopTimer()
			if got := len(m.cache.AllMatchingCertificates("site00001.bench.test")); got != 1 {
				b.Fatalf("%d certificates cached for one name, want 1", got)
			}
		})
	}
}
