package tlsmgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// testSite is the Casket side of an ACME test: an HTTP listener answering HTTP-01 challenges and a TLS
// listener serving the current Manager's TLSConfig, on the ports Pebble validates against.
type testSite struct {
	t                 testing.TB
	httpPort, tlsPort int
	mgr               atomic.Pointer[Manager]
	policy            *Policy
	http01, tlsALPN01 atomic.Int32 // challenges answered

	// beforeChallenge, when set, runs before each HTTP request is answered (tests use it to hold a
	// challenge in progress).
	beforeChallenge atomic.Pointer[func(host string)]
}

func newTestSite(t testing.TB) *testSite {
	t.Helper()
	s := &testSite{t: t}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.httpPort, s.tlsPort = httpLn.Addr().(*net.TCPAddr).Port, tlsLn.Addr().(*net.TCPAddr).Port
	httpSrv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := s.beforeChallenge.Load(); f != nil {
			(*f)(strings.Split(r.Host, ":")[0])
		}
		if m := s.mgr.Load(); m != nil && m.HandleHTTPChallenge(w, r) {
			s.http01.Add(1)
			return
		}
		http.Error(w, "not a challenge", http.StatusNotFound)
	})}
	outer := &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == "acme-tls/1" {
			s.tlsALPN01.Add(1)
		}
		m := s.mgr.Load()
		if m == nil {
			return nil, errors.New("no manager")
		}
		return m.TLSConfig(s.policy), nil
	}}
	tlsSrv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.Host) }),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = httpSrv.Serve(httpLn) }()
	go func() { _ = tlsSrv.Serve(tls.NewListener(tlsLn, outer)) }()
	t.Cleanup(func() {
		httpSrv.Close()
		tlsSrv.Close()
	})
	return s
}

// start creates a Manager over storage for Pebble p and makes the listeners serve it.
func (s *testSite) start(p *acmetest.Pebble, storage string, tweak func(*Options)) *Manager {
	s.t.Helper()
	opts := Options{
		StorageDir: storage, CA: p.DirectoryURL, Email: "ops@casket.test", Agreed: true,
		HTTPPort: s.httpPort, HTTPSPort: s.tlsPort,
		Logger: zaptest.NewLogger(s.t, zaptest.Level(zap.WarnLevel)),
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
	s.policy = &Policy{CA: p.DirectoryURL, CARoot: p.DirectoryRootFile}
	s.mgr.Store(m)
	s.t.Cleanup(func() { m.Close() })
	return m
}

// handshake connects with SNI name, trusting only roots, and returns the leaf certificate.
func (s *testSite) handshake(name string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp",
		fmt.Sprintf("127.0.0.1:%d", s.tlsPort), &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitCert polls until a handshake for name verifies against roots.
func (s *testSite) waitCert(name string, roots *x509.CertPool, within time.Duration) *x509.Certificate {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		leaf, err := s.handshake(name, roots)
		if err == nil {
			return leaf
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no valid certificate for %s after %v: %v", name, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Pebble; skipped with -short")
	}
}

func TestPebbleIssuance(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name  string
		tweak func(*Options)
	}{
		{"http-01", func(o *Options) { o.DisableTLSALPNChallenge = true }},
		{"tls-alpn-01", func(o *Options) { o.DisableHTTPChallenge = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := newTestSite(t)
			peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
			storage := t.TempDir()
			m := site.start(peb, storage, tc.tweak)
			names := []string{"a.casket.test", "b.casket.test", "c.casket.test"}
			if err := m.Manage(context.Background(), names, site.policy); err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				leaf := site.waitCert(n, peb.Roots, 30*time.Second)
				if err := leaf.VerifyHostname(n); err != nil {
					t.Error(err)
				}
			}
			if got := peb.Issued(); got != 3 {
				t.Errorf("pebble issued %d certificates, want 3", got)
			}
			h, a := site.http01.Load(), site.tlsALPN01.Load()
			if (tc.name == "http-01") != (h > 0 && a == 0) || (tc.name == "tls-alpn-01") != (a > 0 && h == 0) {
				t.Errorf("challenges answered: http-01 %d, tls-alpn-01 %d", h, a)
			}
			checkPermissions(t, storage)
		})
	}
}

func TestPebbleRestartServesFromStorage(t *testing.T) {
	skipShort(t)
	site := newTestSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	storage := t.TempDir()
	m := site.start(peb, storage, nil)
	names := []string{"r1.casket.test", "r2.casket.test"}
	if err := m.Manage(context.Background(), names, site.policy); err != nil {
		t.Fatal(err)
	}
	first := site.waitCert("r1.casket.test", peb.Roots, 30*time.Second)
	site.waitCert("r2.casket.test", peb.Roots, 30*time.Second)
	orders := peb.Orders()
	m.Close()

	m2 := site.start(peb, storage, nil)
	if err := m2.Manage(context.Background(), names, site.policy); err != nil {
		t.Fatal(err)
	}
	// served at once: no polling
	for _, n := range names {
		if _, err := site.handshake(n, peb.Roots); err != nil {
			t.Fatalf("%s right after restart: %v", n, err)
		}
	}
	again, _ := site.handshake("r1.casket.test", peb.Roots)
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("serial changed across restart")
	}
	time.Sleep(300 * time.Millisecond)
	if got := peb.Orders(); got != orders {
		t.Errorf("pebble saw %d orders after restart, want %d", got, orders)
	}

	// Pebble gone: a fresh start still serves everything from storage.
	peb.Stop()
	m2.Close()
	m3 := site.start(peb, storage, nil)
	if err := m3.Manage(context.Background(), names, site.policy); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := site.handshake(n, peb.Roots); err != nil {
			t.Fatalf("%s with the CA down: %v", n, err)
		}
	}
}

func TestPebbleRefusedNameDoesNotStopOthers(t *testing.T) {
	skipShort(t)
	site := newTestSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort,
		Blocklist: []string{"refused.casket.test"}})
	m := site.start(peb, t.TempDir(), nil)
	var failures atomic.Int32
	m.hook = func(event string, data map[string]any) {
		if event == "cert_failed" && data["identifier"] == "refused.casket.test" {
			failures.Add(1)
		}
	}
	if err := m.Manage(context.Background(), []string{"refused.casket.test", "ok.casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	site.waitCert("ok.casket.test", peb.Roots, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for failures.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if failures.Load() < 2 {
		t.Errorf("refused name was attempted %d times, want retries", failures.Load())
	}
	if _, err := site.handshake("refused.casket.test", peb.Roots); err == nil {
		t.Errorf("handshake for the refused name succeeded")
	}
	if _, err := site.handshake("ok.casket.test", peb.Roots); err != nil {
		t.Errorf("ok name stopped serving: %v", err)
	}
}

func TestPebbleRevoke(t *testing.T) {
	skipShort(t)
	site := newTestSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	storage := t.TempDir()
	m := site.start(peb, storage, nil)
	if err := m.Manage(context.Background(), []string{"rev.casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	leaf := site.waitCert("rev.casket.test", peb.Roots, 30*time.Second)
	if st := peb.CertStatus(leaf.SerialNumber); st != "Valid" {
		t.Fatalf("status before revoking = %q", st)
	}
	if err := m.Revoke(context.Background(), "unmanaged.casket.test"); err == nil || !strings.Contains(err.Error(), "not a managed certificate") {
		t.Errorf("revoking an unmanaged name: %v", err)
	}
	if err := m.Revoke(context.Background(), "REV.casket.test"); err != nil {
		t.Fatal(err)
	}
	if st := peb.CertStatus(leaf.SerialNumber); st != "Revoked" {
		t.Errorf("status after revoking = %q, want Revoked", st)
	}
	var left []string
	_ = filepath.WalkDir(filepath.Join(storage, "certificates"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(p, "rev.casket.test") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("certificate files left after revoking: %v", left)
	}
	if _, err := site.handshake("rev.casket.test", peb.Roots); err == nil {
		t.Errorf("revoked certificate still served")
	}
}

// checkPermissions asserts that every file under dir is private to its owner (0600) and every folder 0700.
func checkPermissions(t *testing.T, dir string) {
	t.Helper()
	var keys int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if strings.Contains(p, string(filepath.Separator)+"locks"+string(filepath.Separator)) {
			return nil // lock files hold only timestamps
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
		if strings.HasSuffix(p, ".key") {
			keys++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys == 0 {
		t.Errorf("no key files found under %s", dir)
	}
}

func TestPebbleRenewalWithoutFailedHandshakes(t *testing.T) {
	skipShort(t)
	site := newTestSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort, Validity: 30 * time.Second})
	m := site.start(peb, t.TempDir(), func(o *Options) { o.RenewInterval = 500 * time.Millisecond })
	var renewed atomic.Int32
	m.hook = func(event string, data map[string]any) {
		if event == "cert_obtained" && data["renewal"] == true {
			renewed.Add(1)
		}
	}
	const name = "renew.casket.test"
	if err := m.Manage(context.Background(), []string{name}, site.policy); err != nil {
		t.Fatal(err)
	}
	first := site.waitCert(name, peb.Roots, 30*time.Second)
	var handshakes, failures int
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		leaf, err := site.handshake(name, peb.Roots)
		handshakes++
		if err != nil {
			failures++
			t.Errorf("handshake %d failed: %v", handshakes, err)
		} else if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Logf("serial changed after %d handshakes, %v before the old certificate expired", handshakes, time.Until(first.NotAfter).Round(time.Second))
			if !time.Now().Before(first.NotAfter) {
				t.Errorf("new certificate arrived only after the old one expired")
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if renewed.Load() == 0 {
		t.Fatalf("no renewal within 40s (%d handshakes, %d failed)", handshakes, failures)
	}
	if failures > 0 {
		t.Errorf("%d of %d handshakes failed during renewal", failures, handshakes)
	}
}
