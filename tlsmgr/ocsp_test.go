package tlsmgr

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
	"golang.org/x/crypto/ocsp"
)

// ocspResponder answers OCSP requests for Pebble's certificates, signing with Pebble's intermediate.
type ocspResponder struct {
	peb     *acmetest.Pebble
	issuer  *x509.Certificate
	key     crypto.Signer
	srv     *http.Server
	answers atomic.Int32
}

func startOCSPResponder(t *testing.T, ln net.Listener, peb *acmetest.Pebble) *ocspResponder {
	t.Helper()
	r := &ocspResponder{peb: peb}
	block, _ := pem.Decode(peb.Intermediate())
	issuer, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(peb.IntermediateKey())
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	r.issuer, r.key = issuer, key
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *ocspResponder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ocspReq, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now().Truncate(time.Second)
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: ocspReq.SerialNumber, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	if r.peb.CertStatus(ocspReq.SerialNumber) == "Revoked" {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, now, ocsp.Unspecified
	}
	resp, err := ocsp.CreateResponse(r.issuer, r.issuer, tmpl, r.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	r.answers.Add(1)
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}

func TestPebbleOCSPStapling(t *testing.T) {
	skipShort(t)
	site := newTestSite(t)
	ocspLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort, KeyAlgorithm: "rsa",
		OCSPResponderURL: fmt.Sprintf("http://%s/", ocspLn.Addr())})
	responder := startOCSPResponder(t, ocspLn, peb)
	storage := t.TempDir()
	m := site.start(peb, storage, nil)
	site.policy.MustStaple = true
	const name = "ocsp.casket.test"
	if err := m.Manage(context.Background(), []string{name}, site.policy); err != nil {
		t.Fatal(err)
	}
	leaf := site.waitCert(name, peb.Roots, 30*time.Second)
	if !hasMustStaple(leaf) {
		t.Errorf("certificate lacks the OCSP must-staple extension")
	}
	checkStaple(t, site, name, peb)
	if responder.answers.Load() == 0 {
		t.Fatal("the OCSP responder was never asked")
	}
	var staples int
	_ = filepath.WalkDir(filepath.Join(storage, "ocsp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			staples++
		}
		return nil
	})
	if staples == 0 {
		t.Errorf("no OCSP staple persisted under %s/ocsp", storage)
	}
	opensslStatus(t, site, name, peb)

	// responder down, restart: the persisted staple is still served
	responder.srv.Close()
	m.Close()
	m2 := site.start(peb, storage, nil)
	site.policy.MustStaple = true
	if err := m2.Manage(context.Background(), []string{name}, site.policy); err != nil {
		t.Fatal(err)
	}
	checkStaple(t, site, name, peb)
}

// checkStaple asserts that a handshake for name carries a Good OCSP staple.
func checkStaple(t *testing.T, site *testSite, name string, peb *acmetest.Pebble) {
	t.Helper()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", site.tlsPort), &tls.Config{ServerName: name, RootCAs: peb.Roots})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if len(st.OCSPResponse) == 0 {
		t.Fatal("no OCSP staple in the handshake")
	}
	resp, err := ocsp.ParseResponse(st.OCSPResponse, st.VerifiedChains[0][1])
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != ocsp.Good {
		t.Errorf("stapled status %d, want good", resp.Status)
	}
}

// opensslStatus checks the staple with `openssl s_client -status`, when openssl is installed.
func opensslStatus(t *testing.T, site *testSite, name string, peb *acmetest.Pebble) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed; skipping the s_client check")
		return
	}
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	if err := writeFile(rootFile, peb.RootPEM); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", site.tlsPort),
		"-servername", name, "-status", "-CAfile", rootFile)
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	for _, want := range []string{"OCSP Response Status: successful", "Cert Status: good", "Verify return code: 0 (ok)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl s_client output lacks %q:\n%s", want, out)
		}
	}
}

var oidMustStaple = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

func hasMustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidMustStaple) {
			return true
		}
	}
	return false
}
