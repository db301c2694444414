package tlsmgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
)

// odServe runs m's certificate selection for a handshake naming name, as its TLS listener would, and
// returns the verified leaf.
func odServe(m *Manager, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	c, err := m.TLSConfig(nil).GetCertificate(&tls.ClientHelloInfo{ServerName: name, Conn: loopConn{}})
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	return leaf, err
}

// TestOnDemandClusterPebbleMaxCerts: two instances sharing a storage with max_certs 2 obtain exactly two
// certificates for three names handshaked across both; the third is denied on each, and a name obtained
// by one instance is served by the other from storage without a new order.
func TestOnDemandClusterPebbleMaxCerts(t *testing.T) {
	skipShort(t)
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			env, _, _ := b.start(t)
			site := newODSite(t)
			peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
			dir := t.TempDir()
			var ms []*Manager
			for range 2 {
				s, err := StorageFromEnv(context.Background(), envMap(env), dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { closeStorage(s) })
				m := site.start(peb, dir, func(o *Options) { o.Storage, o.ClusterLimits = s, true })
				if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 2, "")); err != nil {
					t.Fatal(err)
				}
				ms = append(ms, m)
			}
			// the site's listeners serve the second instance (its log observer is site.logs); the first
			// is asked directly
			first := func(name string) error { _, err := odServe(ms[0], name, peb.Roots); return err }
			second := func(name string) error { _, err := site.handshakeWithin(name, peb.Roots, 30*time.Second); return err }

			if err := first("a.casket.test"); err != nil {
				t.Fatalf("first name on instance 1: %v", err)
			}
			if err := second("b.casket.test"); err != nil {
				t.Fatalf("second name on instance 2: %v", err)
			}
			if err := first("c.casket.test"); err == nil {
				t.Error("third name obtained on instance 1 past the cluster's max_certs 2")
			}
			start := time.Now()
			if err := second("c.casket.test"); err == nil {
				t.Error("third name obtained on instance 2 past the cluster's max_certs 2")
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("denial took %v", took)
			}
			if r := site.deniedFor("c.casket.test"); !strings.Contains(r, "max_certs") {
				t.Errorf("denial reason on instance 2 = %q", r)
			}
			// obtained elsewhere: loaded from the shared storage, no new order
			if err := second("a.casket.test"); err != nil {
				t.Errorf("instance 2 serving the name instance 1 obtained: %v", err)
			}
			if err := first("b.casket.test"); err != nil {
				t.Errorf("instance 1 serving the name instance 2 obtained: %v", err)
			}
			if got := peb.Orders(); got != 2 {
				t.Errorf("orders at the CA = %d, want 2", got)
			}
			if got := ms[1].od.cluster.obtained(ms[1].group("x.casket.test").group); got != 2 {
				t.Errorf("shared count = %d, want 2", got)
			}
			t.Logf("%s: 2 orders for 3 names across 2 instances", b.name)
		})
	}
}

// TestOnDemandClusterPebbleConcurrentAsk: with `ask` (no built-in rate limits) and max_certs 2, three new
// names handshaked at the same moment on both of two instances sharing a storage give exactly two
// certificates and two orders: reservations in the shared count never overshoot.
func TestOnDemandClusterPebbleConcurrentAsk(t *testing.T) {
	skipShort(t)
	for _, b := range clusterBackends[:2] {
		t.Run(b.name, func(t *testing.T) {
			env, _, _ := b.start(t)
			site := newODSite(t)
			peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
			ask := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			defer ask.Close()
			dir := t.TempDir()
			var ms []*Manager
			for range 2 {
				s, err := StorageFromEnv(context.Background(), envMap(env), dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { closeStorage(s) })
				m := site.start(peb, dir, func(o *Options) { o.Storage, o.ClusterLimits = s, true })
				if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 2, ask.URL)); err != nil {
					t.Fatal(err)
				}
				ms = append(ms, m)
			}
			names := []string{"p.casket.test", "q.casket.test", "r.casket.test"}
			var mu sync.Mutex
			served := map[string]int{}
			var wg sync.WaitGroup
			for _, m := range ms {
				for _, n := range names {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := odServe(m, n, peb.Roots); err == nil {
							mu.Lock()
							served[n]++
							mu.Unlock()
						}
					}()
				}
			}
			wg.Wait()
			if len(served) != 2 {
				t.Errorf("names with a certificate: %v, want exactly 2", served)
			}
			if got := peb.Orders(); got != 2 {
				t.Errorf("orders at the CA = %d, want 2", got)
			}
			if got := ms[0].od.cluster.obtained(ms[0].group("x.casket.test").group); got != 2 {
				t.Errorf("shared count = %d, want 2", got)
			}
		})
	}
}
