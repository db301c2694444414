package tlsmgr

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newTestManager returns a Manager over a temporary storage folder that never contacts a CA.
func newTestManager(t *testing.T, tweak func(*Options)) *Manager {
	t.Helper()
	opts := Options{StorageDir: filepath.Join(t.TempDir(), ".casket"), CA: "https://127.0.0.1:1/dir", Agreed: true}
	if tweak != nil {
		tweak(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// serve runs a TLS server with tc on loopback and returns its address.
func serve(t *testing.T, tc *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// leafFor handshakes with addr using SNI name (no verification) and returns the served leaf.
func leafFor(t *testing.T, addr, name string) (*x509.Certificate, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func TestSelfSigned(t *testing.T) {
	m := newTestManager(t, func(o *Options) { o.DefaultSNI = "dev.casket.test" })
	if err := m.SelfSigned([]string{"dev.casket.test", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m.TLSConfig(&Policy{SelfSigned: true}))
	leaf, err := leafFor(t, addr, "dev.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 7*24*time.Hour || life > 7*24*time.Hour+2*time.Hour {
		t.Errorf("self-signed lifetime %v, want about 7 days", life)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("IP SAN missing: %v", err)
	}
	// no SNI: the -default-sni certificate
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake without SNI: %v", err)
	}
	conn.Close()
	if _, err := leafFor(t, addr, "other.casket.test"); err == nil {
		t.Errorf("unknown name got a certificate")
	}
}

func TestLoadPairReloadsChangedFiles(t *testing.T) {
	m := newTestManager(t, func(o *Options) { o.watchEvery = 20 * time.Millisecond })
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "manual.casket.test")
	if err := m.LoadPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m.TLSConfig(nil))
	first, err := leafFor(t, addr, "manual.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a distinct mtime
	writePair(t, dir, "manual.casket.test")
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaf, err := leafFor(t, addr, "manual.casket.test")
		if err != nil {
			t.Fatalf("handshake during reload: %v", err)
		}
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("changed certificate files were not re-read")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// a broken file keeps the last good certificate
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := leafFor(t, addr, "manual.casket.test"); err != nil {
		t.Errorf("broken file stopped serving: %v", err)
	}
	if err := m.LoadPair(filepath.Join(dir, "nope.pem"), keyFile); err == nil {
		t.Errorf("missing certificate file accepted")
	}
}

func TestLoadDir(t *testing.T) {
	m := newTestManager(t, nil)
	dir := t.TempDir()
	certPEM, keyPEM, err := selfSignedPEM([]string{"bundle.casket.test"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	bundle := append(append([]byte{}, certPEM...), keyPEM...)
	if err := os.WriteFile(filepath.Join(sub, "site.pem"), bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m.TLSConfig(nil))
	if _, err := leafFor(t, addr, "bundle.casket.test"); err != nil {
		t.Errorf("bundle not served: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.LoadDir(dir); err == nil || !strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("bundle without key: %v", err)
	}
}

func TestTLSConfig(t *testing.T) {
	m := newTestManager(t, nil)
	tests := []struct {
		name  string
		p     *Policy
		check func(*tls.Config) string
	}{
		{"defaults", nil, func(c *tls.Config) string {
			if c.MinVersion != tls.VersionTLS12 || c.MaxVersion != 0 || c.CurvePreferences != nil || c.CipherSuites != nil {
				return "unexpected versions, curves or ciphers"
			}
			if strings.Join(c.NextProtos, ",") != "h2,http/1.1,acme-tls/1" {
				return "NextProtos " + strings.Join(c.NextProtos, ",")
			}
			return ""
		}},
		{"policy", &Policy{MinVersion: tls.VersionTLS13, ALPN: []string{"http/1.1"}, Curves: []tls.CurveID{tls.X25519},
			Ciphers: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, ClientAuth: tls.RequireAnyClientCert}, func(c *tls.Config) string {
			if c.MinVersion != tls.VersionTLS13 || len(c.CurvePreferences) != 1 || len(c.CipherSuites) != 1 || c.ClientAuth != tls.RequireAnyClientCert {
				return "policy fields not applied"
			}
			if strings.Join(c.NextProtos, ",") != "http/1.1,acme-tls/1" {
				return "NextProtos " + strings.Join(c.NextProtos, ",")
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := m.TLSConfig(tt.p)
			if c.GetCertificate == nil {
				t.Fatal("no GetCertificate")
			}
			if msg := tt.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestHandleHTTPChallengeIgnoresOtherRequests(t *testing.T) {
	m := newTestManager(t, nil)
	for _, target := range []string{"/", "/.well-known/acme-challenge/unknown-token"} {
		rec := httptest.NewRecorder()
		if m.HandleHTTPChallenge(rec, httptest.NewRequest(http.MethodGet, "http://a.casket.test"+target, nil)) {
			t.Errorf("%s: handled", target)
		}
	}
}

func TestManageErrors(t *testing.T) {
	m := newTestManager(t, nil)
	if err := m.Manage(context.Background(), []string{"x.casket.test"}, &Policy{DNSProvider: "cloudflare"}); err == nil {
		t.Errorf("dns provider accepted")
	}
	if err := m.Manage(context.Background(), []string{"y.casket.test"}, &Policy{KeyType: "p384", CA: "https://127.0.0.1:1/a"}); err != nil {
		t.Fatal(err)
	}
	err := m.Manage(context.Background(), []string{"Y.casket.test"}, &Policy{KeyType: "rsa2048", CA: "https://127.0.0.1:1/a"})
	if err == nil || !strings.Contains(err.Error(), "different certificate settings") {
		t.Errorf("conflicting policies: %v", err)
	}
	if err := m.Revoke(context.Background(), "nothing.casket.test"); err == nil {
		t.Errorf("revoked an unmanaged name")
	}
}

func TestAccountPrompt(t *testing.T) {
	tests := []struct {
		name      string
		terminal  bool
		agreed    bool
		email     string
		input     string
		wantErr   string
		wantEmail string
		prompted  bool
	}{
		{name: "no terminal, agreed", agreed: true},
		{name: "no terminal, not agreed", wantErr: "run with -agree"},
		{name: "terminal asks email", terminal: true, agreed: true, input: "me@casket.test\n", wantEmail: "me@casket.test", prompted: true},
		{name: "terminal, email known", terminal: true, agreed: true, email: "ops@casket.test", wantEmail: "ops@casket.test"},
		{name: "terminal agreement yes", terminal: true, email: "ops@casket.test", input: "y\n", wantEmail: "ops@casket.test", prompted: true},
		{name: "terminal agreement no", terminal: true, email: "ops@casket.test", input: "n\n", wantErr: "not accepted", prompted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, func(o *Options) { o.Agreed, o.Email = tt.agreed, tt.email })
			var out bytes.Buffer
			m.terminal, m.stdin, m.stderr = tt.terminal, strings.NewReader(tt.input), &out
			pc, err := m.policyConfig(nil)
			if err != nil {
				t.Fatal(err)
			}
			err = m.ensureAccount(context.Background(), pc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if pc.issuer.Email != tt.wantEmail && tt.wantErr == "" {
				t.Errorf("email %q, want %q", pc.issuer.Email, tt.wantEmail)
			}
			if (out.Len() > 0) != tt.prompted {
				t.Errorf("prompted = %v, want %v (%q)", out.Len() > 0, tt.prompted, out.String())
			}
		})
	}
}

func TestKeyTypes(t *testing.T) {
	m := newTestManager(t, nil)
	for _, kt := range []string{"", "p256", "p384", "rsa2048", "ed25519"} {
		pc, err := m.policyConfig(&Policy{KeyType: kt})
		if err != nil {
			t.Fatal(err)
		}
		key, err := pc.cfg.KeySource.GenerateKey()
		if err != nil {
			t.Fatalf("%q: %v", kt, err)
		}
		if key == nil {
			t.Fatalf("%q: no key", kt)
		}
	}
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o600) }

func TestSelfSignedLocalhostCoversLoopback(t *testing.T) {
	m := newTestManager(t, nil)
	if err := m.SelfSigned(nil); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m.TLSConfig(nil))
	// an IP address sends no SNI: the certificate is picked by the local address
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake without SNI on 127.0.0.1: %v", err)
	}
	defer conn.Close()
	if err := conn.ConnectionState().PeerCertificates[0].VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	m, err := New(Options{StorageDir: b.TempDir(), CA: "https://127.0.0.1:1/dir", Agreed: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if err := m.SelfSigned([]string{"bench.casket.test"}); err != nil {
		b.Fatal(err)
	}
	get := m.TLSConfig(nil).GetCertificate
	hello := &tls.ClientHelloInfo{ServerName: "bench.casket.test", SupportedProtos: []string{"h2"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := get(hello); err != nil {
			b.Fatal(err)
		}
	}
}
