package tlsmgr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/internal/acmetest"
	"go.uber.org/zap"
)

// storeOnDemandCerts writes n certificates for names i.bench.casket.test, signed by a throwaway CA, into
// the storage of g's CA, as certmagic stores certificates it obtained.
func storeOnDemandCerts(tb testing.TB, g *odGroup, n int) []string {
	tb.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	issuerKey := g.pc.issuer.IssuerKey()
	names := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		names[i] = fmt.Sprintf("n%05d.bench.casket.test", i)
		wg.Add(1)
		sem <- struct{}{}
		go func(name string, serial int64) {
			defer func() { <-sem; wg.Done() }()
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
				DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
			if err != nil {
				tb.Error(err)
				return
			}
			keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
			meta, _ := json.Marshal(map[string]any{"sans": []string{name}})
			ctx := context.Background()
			st := g.pc.cfg.Storage
			for k, v := range map[string][]byte{
				certmagic.StorageKeys.SiteCert(issuerKey, name):       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
				certmagic.StorageKeys.SitePrivateKey(issuerKey, name): pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
				certmagic.StorageKeys.SiteMeta(issuerKey, name):       meta,
			} {
				if err := st.Store(ctx, k, v); err != nil {
					tb.Error(err)
				}
			}
		}(names[i], int64(i+2))
	}
	wg.Wait()
	return names
}

// serveTLS serves m's TLS configuration on loopback and returns the address.
func serveTLS(tb testing.TB, m *Manager) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, m.TLSConfig(nil))) }()
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// timedHandshake makes one full TLS handshake (no session resumption) and returns how long it took.
func timedHandshake(addr, name string, roots *x509.CertPool) (time.Duration, error) {
	start := time.Now()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: name, RootCAs: roots, InsecureSkipVerify: roots == nil})
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	conn.Close()
	return took, nil
}

// reportPercentiles reports p50 and p99 of ds as benchmark metrics.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[min(len(ds)-1, len(ds)*99/100)].Microseconds()), "p99-µs")
}

// BenchmarkOnDemandCachedHandshake measures full handshakes for random names among 10,000 certificates
// obtained on demand: stored, loaded at their first handshake (timed separately), then served from memory.
func BenchmarkOnDemandCachedHandshake(b *testing.B) {
	m, err := New(Options{StorageDir: b.TempDir(), CA: "https://127.0.0.1:1/dir", Agreed: true, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	m.terminal = false
	defer m.Close()
	if err := m.EnableOnDemand([]string{"*.bench.casket.test"}, &Policy{MaxCerts: 1}); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	names := storeOnDemandCerts(b, m.group("x.bench.casket.test"), n)
	addr := serveTLS(b, m)

	// first handshake of every name: loaded from storage
	loads := make([]time.Duration, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				d, err := timedHandshake(addr, names[i], nil)
				if err != nil {
					b.Error(err)
					return
				}
				loads[i] = d
			}
		}()
	}
	wg.Wait()
	slices.Sort(loads)
	b.Logf("first handshakes (load from storage) of %d names: p50 %v, p99 %v", n, loads[n/2], loads[n*99/100])

	run := func(addr string, pick func() string) func(*testing.B) {
		return func(b *testing.B) {
			ds := make([]time.Duration, 0, b.N)
			for b.Loop() {
				d, err := timedHandshake(addr, pick(), nil)
				if err != nil {
					b.Fatal(err)
				}
				ds = append(ds, d)
			}
			b.StopTimer()
			reportPercentiles(b, ds)
		}
	}
	b.Run("10000-on-demand", run(addr, func() string { return names[mrand.IntN(n)] }))
	// the same handshake with one static certificate and plain crypto/tls, under the same machine load
	static, err := tls.X509KeyPair(loadStoredPair(b, m.group(names[0]), names[0]))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{static}})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	b.Run("static-baseline", run(ln.Addr().String(), func() string { return names[0] }))
}

// loadStoredPair returns the PEM certificate and key stored for name.
func loadStoredPair(tb testing.TB, g *odGroup, name string) (certPEM, keyPEM []byte) {
	ctx, key := context.Background(), g.pc.issuer.IssuerKey()
	certPEM, err := g.pc.cfg.Storage.Load(ctx, certmagic.StorageKeys.SiteCert(key, name))
	if err != nil {
		tb.Fatal(err)
	}
	keyPEM, err = g.pc.cfg.Storage.Load(ctx, certmagic.StorageKeys.SitePrivateKey(key, name))
	if err != nil {
		tb.Fatal(err)
	}
	return certPEM, keyPEM
}

// BenchmarkOnDemandFirstHandshake measures a handshake for a new name that obtains its certificate from
// Pebble (no validation sleep) during the handshake. certmagic paces orders to 10 per 10 seconds per CA
// and account, so every batch of 9 names uses a fresh account, created outside the timer by a first order.
func BenchmarkOnDemandFirstHandshake(b *testing.B) {
	site := newODSite(b)
	peb := acmetest.Start(b, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	m := site.start(peb, b.TempDir(), nil)
	m.log = zap.NewNop()
	addr := fmt.Sprintf("127.0.0.1:%d", site.tlsPort)
	ds := make([]time.Duration, 0, b.N)
	batch, inBatch := 0, 9
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if inBatch == 9 {
			b.StopTimer()
			batch++
			p := odPolicy(peb, 0, "")
			p.Ask = "" // max_certs without the built-in pause: one group per batch, at most 10 names
			p.MaxCerts = 10
			p.Email = fmt.Sprintf("bench%d@casket.test", batch)
			pattern := fmt.Sprintf("*.b%d.casket.test", batch)
			if err := m.EnableOnDemand([]string{pattern}, p); err != nil {
				b.Fatal(err)
			}
			m.od.limits.mu.Lock()
			m.od.limits.obtained = 0 // the 10-then-10-minutes pause is not what is measured
			m.od.limits.mu.Unlock()
			if _, err := timedHandshake(addr, fmt.Sprintf("warm.b%d.casket.test", batch), peb.Roots); err != nil {
				b.Fatal(err)
			}
			inBatch = 0
			b.StartTimer()
		}
		d, err := timedHandshake(addr, fmt.Sprintf("n%d.b%d.casket.test", i, batch), peb.Roots)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, d)
		inBatch++
	}
	b.StopTimer()
	reportPercentiles(b, ds)
}
