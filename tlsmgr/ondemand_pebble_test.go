package tlsmgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// odSite is a testSite with a log observer for the on-demand messages. Its policy stays nil, so the TLS
// listener serves TLSConfig(nil), where on-demand groups are looked up by name.
type odSite struct {
	*testSite
	logs *observer.ObservedLogs
}

func newODSite(t testing.TB) *odSite {
	t.Helper()
	return &odSite{testSite: newTestSite(t)}
}

// start creates a Manager over storage for Pebble p (HTTP-01 only) and serves it.
func (s *odSite) start(p *acmetest.Pebble, storage string, tweak func(*Options)) *Manager {
	s.t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	s.logs = logs
	tee := zapcore.NewTee(core, zaptest.NewLogger(s.t, zaptest.Level(zap.ErrorLevel)).Core())
	opts := Options{
		StorageDir: storage, CA: p.DirectoryURL, Email: "ops@casket.test", Agreed: true,
		HTTPPort: s.httpPort, HTTPSPort: s.tlsPort, DisableTLSALPNChallenge: true,
		Logger: zap.New(tee),
	}
	if tweak != nil {
		tweak(&opts)
	}
	m, err := New(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	m.retryIntervals = []time.Duration{200 * time.Millisecond}
	m.terminal = false
	s.mgr.Store(m)
	s.t.Cleanup(func() { m.Close() })
	return m
}

// policy returns an on-demand policy for Pebble p.
func odPolicy(p *acmetest.Pebble, maxCerts int, ask string) *Policy {
	return &Policy{CA: p.DirectoryURL, CARoot: p.DirectoryRootFile, MaxCerts: maxCerts, Ask: ask}
}

// handshake connects with SNI name and returns the verified leaf certificate.
func (s *odSite) handshake(name string, roots *x509.CertPool) (*x509.Certificate, error) {
	return s.handshakeWithin(name, roots, 5*time.Second)
}

// handshakeWithin is handshake with a timeout for connecting and handshaking.
func (s *odSite) handshakeWithin(name string, roots *x509.CertPool, timeout time.Duration) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", s.tlsPort),
		&tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// messages counts log entries with message msg about name.
func (s *odSite) messages(msg, name string) int {
	n := 0
	for _, e := range s.logs.FilterMessage(msg).All() {
		if e.ContextMap()["name"] == name || name == "" {
			n++
		}
	}
	return n
}

func TestOnDemandFirstHandshake(t *testing.T) {
	skipShort(t)
	t.Run("http-01", func(t *testing.T) { testOnDemandFirstHandshake(t, nil) })
	t.Run("tls-alpn-01", func(t *testing.T) {
		testOnDemandFirstHandshake(t, func(o *Options) { o.DisableTLSALPNChallenge, o.DisableHTTPChallenge = false, true })
	})
}

func testOnDemandFirstHandshake(t *testing.T, tweak func(*Options)) {
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	m := site.start(peb, t.TempDir(), tweak)
	if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 5, "")); err != nil {
		t.Fatal(err)
	}
	const name = "first.casket.test"
	start := time.Now()
	leaf, err := site.handshake(name, peb.Roots)
	if err != nil {
		t.Fatalf("first handshake: %v", err)
	}
	t.Logf("first handshake with issuance took %v", time.Since(start))
	if err := leaf.VerifyHostname(name); err != nil {
		t.Error(err)
	}
	if got := peb.Orders(); got != 1 {
		t.Errorf("orders = %d, want 1", got)
	}
	start = time.Now()
	again, err := site.handshake(name, peb.Roots)
	if err != nil {
		t.Fatalf("second handshake: %v", err)
	}
	t.Logf("second handshake took %v", time.Since(start))
	if again.SerialNumber.Cmp(leaf.SerialNumber) != 0 || peb.Orders() != 1 {
		t.Errorf("second handshake not served from cache (orders %d)", peb.Orders())
	}
	for _, msg := range []string{"on-demand certificate allowed", "on-demand challenge started", "certificate obtained on demand"} {
		if site.messages(msg, name) != 1 {
			t.Errorf("log %q for %s: %d entries, want 1", msg, name, site.messages(msg, name))
		}
	}
	// a name outside the site's pattern is refused, without an order
	if _, err := site.handshake("a.b.casket.test", peb.Roots); err == nil || peb.Orders() != 1 {
		t.Errorf("name outside *.casket.test: %v, orders %d", err, peb.Orders())
	}
	checkPermissions(t, m.opts.StorageDir)
}

func TestOnDemandConcurrentHandshakesOneOrder(t *testing.T) {
	skipShort(t)
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	m := site.start(peb, t.TempDir(), nil)
	if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 5, "")); err != nil {
		t.Fatal(err)
	}
	const name = "swarm.casket.test"
	var wg sync.WaitGroup
	var failed atomic.Int32
	release := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			if _, err := site.handshake(name, peb.Roots); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if got := peb.Orders(); got != 1 {
		t.Errorf("orders = %d, want exactly 1", got)
	}
	if failed.Load() > 0 {
		t.Errorf("%d of 100 handshakes failed", failed.Load())
	}
}

func TestOnDemandAbuse(t *testing.T) {
	skipShort(t)
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	storage := t.TempDir()
	m := site.start(peb, storage, nil)
	const static = "static.casket.test"
	if err := m.Manage(context.Background(), []string{static}, odPolicy(peb, 0, "")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := site.handshake(static, peb.Roots); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("configured site got no certificate: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := peb.Orders()
	if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 10, "")); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var staticOK, staticFail atomic.Int32
	var staticWG sync.WaitGroup
	staticWG.Add(1)
	go func() {
		defer staticWG.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			start := time.Now()
			if _, err := site.handshake(static, peb.Roots); err != nil || time.Since(start) > time.Second {
				staticFail.Add(1)
				t.Logf("configured site: %v after %v", err, time.Since(start))
			} else {
				staticOK.Add(1)
			}
		}
	}()

	names := make(chan string)
	var wg sync.WaitGroup
	var issued atomic.Int32
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range names {
				if _, err := site.handshake(n, peb.Roots); err == nil {
					issued.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	for i := range 1000 {
		names <- fmt.Sprintf("r%04d-%x.casket.test", i, time.Now().UnixNano()&0xffff)
	}
	close(names)
	wg.Wait()
	took := time.Since(start)
	close(stop)
	staticWG.Wait()

	orders := peb.Orders() - before
	t.Logf("1000 handshakes in %v: %d certificates served, %d orders; configured site answered %d times",
		took, issued.Load(), orders, staticOK.Load())
	if orders > 10 {
		t.Errorf("%d orders for random names, want at most 10", orders)
	}
	if staticFail.Load() > 0 || staticOK.Load() == 0 {
		t.Errorf("configured site: %d failed or slow handshakes, %d good", staticFail.Load(), staticOK.Load())
	}
	var size int64
	var dirs int
	_ = filepath.WalkDir(storage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && filepath.Base(filepath.Dir(p)) != "" && strings.Contains(p, "certificates") && strings.HasSuffix(p, ".casket.test") {
			dirs++
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	t.Logf("storage: %d bytes, %d certificate folders", size, dirs)
	if dirs > 11 {
		t.Errorf("%d certificate folders, want at most 11", dirs)
	}
	if size > 128<<10 {
		t.Errorf("storage grew to %d bytes", size)
	}
	// one name at a time, the cap is reached and then holds
	for i := 0; issued.Load() < 10; i++ {
		if i > 20 {
			t.Fatalf("only %d certificates obtained one at a time", issued.Load())
		}
		// certmagic paces orders to 10 per 10 seconds per account, so a handshake may wait for its turn
		if _, err := site.handshakeWithin(fmt.Sprintf("seq%d.casket.test", i), peb.Roots, 30*time.Second); err == nil {
			issued.Add(1)
		}
	}
	if _, err := site.handshake("late.casket.test", peb.Roots); err == nil {
		t.Error("a name past max_certs got a certificate")
	}
	if got := peb.Orders() - before; got != 10 {
		t.Errorf("orders = %d after reaching max_certs 10", got)
	}
	if site.messages("on-demand certificate denied", "late.casket.test") != 1 {
		t.Error("max_certs denial not logged")
	}
}
