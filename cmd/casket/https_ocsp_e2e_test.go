package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/casketserver/casket/internal/acmetest"
)

// ocspServer answers OCSP requests for Pebble's certificates ("good" unless Pebble revoked them),
// signed by Pebble's intermediate: Pebble writes the responder URL into certificates but runs none.
type ocspServer struct {
	peb     *acmetest.Pebble
	issuer  *x509.Certificate
	key     crypto.Signer
	srv     *http.Server
	answers atomic.Int32
}

func startOCSPServer(t *testing.T, ln net.Listener, peb *acmetest.Pebble) *ocspServer {
	t.Helper()
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
	o := &ocspServer{peb: peb, issuer: issuer, key: key}
	o.srv = &http.Server{Handler: o}
	go func() { _ = o.srv.Serve(ln) }()
	t.Cleanup(func() { o.srv.Close() })
	return o
}

func (o *ocspServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now().Truncate(time.Second)
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber, ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(time.Hour)}
	if o.peb.CertStatus(req.SerialNumber) == "Revoked" {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, now, ocsp.Unspecified
	}
	resp, err := ocsp.CreateResponse(o.issuer, o.issuer, tmpl, o.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	o.answers.Add(1)
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}

// TestE2EOCSPStaple: casket staples the OCSP response of a certificate that names a responder, as
// `openssl s_client -status` shows, persists it, and staples it again after a restart with the responder
// down.
func TestE2EOCSPStaple(t *testing.T) {
	needBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newACMEEnv(t, acmetest.Options{KeyAlgorithm: "rsa", OCSPResponderURL: fmt.Sprintf("http://%s/", ln.Addr())})
	responder := startOCSPServer(t, ln, a.peb)
	const name = "ocsp.casket.test"
	conf := writeConf(t, t.TempDir(), name+" {\n\troot www\n}\n")
	p := a.start(conf)
	waitCert(t, name, a.httpsPort, a.peb.Roots, 60*time.Second)
	waitStaple(t, name, a.httpsPort, a.peb)
	if responder.answers.Load() == 0 {
		t.Fatal("the OCSP responder was never asked")
	}
	opensslStaple(t, name, a)

	p.stop()
	responder.srv.Close()
	a.start(conf)
	waitStaple(t, name, a.httpsPort, a.peb)
	opensslStaple(t, name, a)
}

// waitStaple waits until a handshake for name carries a verified "good" OCSP staple.
func waitStaple(t *testing.T, name, port string, peb *acmetest.Pebble) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, staple, err := handshake(name, port, peb.Roots)
		if err == nil && len(staple) > 0 {
			block, _ := pem.Decode(peb.Intermediate())
			issuer, _ := x509.ParseCertificate(block.Bytes)
			resp, err := ocsp.ParseResponse(staple, issuer)
			if err != nil || resp.Status != ocsp.Good {
				t.Fatalf("stapled response: %v, status %v", err, resp)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no OCSP staple for %s within 20s (handshake error %v)", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// opensslStaple checks the staple with `openssl s_client -status`.
func opensslStaple(t *testing.T, name string, a *acmeEnv) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
			t.Fatal("openssl not installed")
		}
		t.Log("openssl not installed; skipping the s_client check")
		return
	}
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(rootFile, a.peb.RootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "s_client", "-connect", "127.0.0.1:"+a.httpsPort, "-servername", name,
		"-status", "-CAfile", rootFile)
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	for _, want := range []string{"OCSP Response Status: successful", "Cert Status: good", "Verify return code: 0 (ok)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl s_client output lacks %q:\n%s", want, out)
		}
	}
}
