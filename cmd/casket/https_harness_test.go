package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
)

// acmeEnv is one automatic HTTPS test setup: a Pebble validating against the HTTP and HTTPS ports casket
// is given, and a CASKETPATH of the test's own.
type acmeEnv struct {
	t                   *testing.T
	peb                 *acmetest.Pebble
	httpPort, httpsPort string
	storage             string
	env                 env
}

// newACMEEnv starts Pebble (opts' ports are chosen here) and prepares casket's environment: CASKETPATH,
// and SSL_CERT_FILE so casket trusts Pebble's directory certificate.
func newACMEEnv(t *testing.T, opts acmetest.Options) *acmeEnv {
	t.Helper()
	needBinary(t)
	opts.HTTPPort, opts.TLSPort = acmetest.FreePort(t), acmetest.FreePort(t)
	peb := acmetest.Start(t, opts)
	storage := filepath.Join(t.TempDir(), "casketpath")
	return &acmeEnv{
		t: t, peb: peb, storage: storage,
		httpPort: fmt.Sprint(opts.HTTPPort), httpsPort: fmt.Sprint(opts.TLSPort),
		env: env{"CASKETPATH": storage, "SSL_CERT_FILE": peb.DirectoryRootFile},
	}
}

// args are casket's flags for this setup, followed by extra.
func (a *acmeEnv) args(conf string, extra ...string) []string {
	return append([]string{"-conf", conf, "-ca", a.peb.DirectoryURL, "-http-port", a.httpPort,
		"-https-port", a.httpsPort, "-email", "ops@casket.test", "-agree", "-log", "stderr", "-catimeout", "20s"}, extra...)
}

// start runs casket on conf and waits until its start-up banner is out (certificates in storage are
// loaded by then).
func (a *acmeEnv) start(conf string, extra ...string) *proc {
	a.t.Helper()
	p := newProc(a.t, a.env, a.args(conf, extra...)...).start()
	p.waitBanner()
	return p
}

// waitBanner waits for the start-up banner on stdout.
func (p *proc) waitBanner() {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stdout.String(), "Serving on") {
		if p.exited() {
			p.t.Fatalf("casket exited during start-up: %v\nstderr:\n%s", p.err, p.stderr)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no start-up banner within 20s\nstderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends casket with SIGTERM and checks it exits 0.
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		p.t.Fatalf("casket exited %d after SIGTERM\nstderr:\n%s", code, p.stderr)
	}
}

// handshake connects to 127.0.0.1:port with SNI name, trusting only roots, and returns the verified
// leaf certificate and the OCSP staple.
func handshake(name, port string, roots *x509.CertPool) (*x509.Certificate, []byte, error) {
	return handshakeAt(name, "127.0.0.1:"+port, roots)
}

// handshakeAt is handshake with a server at addr.
func handshakeAt(name, addr string, roots *x509.CertPool) (*x509.Certificate, []byte, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return st.PeerCertificates[0], st.OCSPResponse, nil
}

// waitCert polls until a handshake for name verifies against roots.
func waitCert(t *testing.T, name, port string, roots *x509.CertPool, within time.Duration) *x509.Certificate {
	t.Helper()
	return waitCertAt(t, name, "127.0.0.1:"+port, roots, within)
}

// waitCertAt is waitCert with a server at addr.
func waitCertAt(t *testing.T, name, addr string, roots *x509.CertPool, within time.Duration) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		leaf, _, err := handshakeAt(name, addr, roots)
		if err == nil {
			return leaf
		}
		if time.Now().After(deadline) {
			t.Fatalf("no valid certificate for %s at %s after %v: %v", name, addr, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tlsClient is an HTTP client trusting only roots that dials every host to 127.0.0.1 and does not
// follow redirects.
func tlsClient(t *testing.T, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkPermissions checks that every folder under dir is 0700 and every file 0600 (lock files, which
// hold only timestamps, aside), and that key files exist.
func checkPermissions(t *testing.T, dir string) {
	t.Helper()
	keys := 0
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
		} else if strings.Contains(p, string(filepath.Separator)+"locks"+string(filepath.Separator)) {
			return nil
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
		t.Errorf("no key files under %s", dir)
	}
}
