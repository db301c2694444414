package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA issues certificates for the tests that bring their own (`tls cert key`, `tls { clients }`).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	file string // the CA certificate, PEM
}

func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "casket test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pool: x509.NewCertPool(), file: filepath.Join(dir, "ca.pem")}
	ca.pool.AddCert(cert)
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a certificate for names (server) or a client certificate (no names) and its key into
// dir, returning the file paths and the tls.Certificate.
func (ca *testCA) issue(t *testing.T, dir, base string, names ...string) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: base},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(names) == 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestE2ELocalTLS: self-signed and user certificates need no CA; their sites keep the -port and their
// automatic redirects point at that port (not at 443, Casket's bug); no_redirect and tls off add no
// redirect; a site with client authentication refuses a Host that differs from the TLS server name.
func TestE2ELocalTLS(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	certFile, keyFile, _ := ca.issue(t, dir, "server", "manual.test", "other.test", "mtls.test")
	_, _, clientPair := ca.issue(t, dir, "client")
	port, httpPort, httpsPort, p2, p3 := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	conf := writeConf(t, dir, `localhost {
	root www
	tls self_signed
}
manual.test, other.test {
	root www
	tls `+certFile+` `+keyFile+`
}
mtls.test {
	root www
	tls `+certFile+` `+keyFile+` {
		clients `+ca.file+`
	}
}
noredir.test:`+p2+` {
	root www
	tls self_signed {
		no_redirect
	}
}
off.test:`+p3+` {
	root www
	tls off
}
`)
	storage := filepath.Join(dir, "casketpath")
	p := newProc(t, env{"CASKETPATH": storage}, "-conf", conf, "-port", port, "-http-port", httpPort,
		"-https-port", httpsPort, "-ca", "https://127.0.0.1:1/directory", "-log", "stderr").start()
	p.waitBanner()

	// self_signed: a certificate for localhost on -port.
	leaf, _, err := handshakeInsecure("localhost", port)
	if err != nil {
		t.Fatalf("self-signed handshake: %v", err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Errorf("self-signed certificate: %v", err)
	}
	// The user's certificate verifies against the user's CA.
	c := tlsClient(t, ca.pool)
	if r := get(t, c, "https://manual.test:"+port+"/hello.txt"); r.status != 200 || r.body != "hello e2e\n" {
		t.Errorf("manual site: %d %q", r.status, r.body)
	}

	redirects := []struct {
		host, want string
	}{
		{"localhost", "https://localhost:" + port + "/a/b?c=d"},
		{"manual.test", "https://manual.test:" + port + "/a/b?c=d"},
		{"other.test", "https://other.test:" + port + "/a/b?c=d"},
	}
	for _, rd := range redirects {
		r := get(t, c, "http://127.0.0.1:"+httpPort+"/a/b?c=d", "Host", rd.host)
		if r.status != 301 || r.header.Get("Location") != rd.want {
			t.Errorf("redirect of %s: %d %q, want 301 %q", rd.host, r.status, r.header.Get("Location"), rd.want)
		}
	}
	for _, host := range []string{"noredir.test", "off.test"} {
		if r := get(t, c, "http://127.0.0.1:"+httpPort+"/", "Host", host); r.status != 404 {
			t.Errorf("%s on the HTTP port: %d, want 404 (no redirect site)", host, r.status)
		}
	}
	if _, _, err := handshakeInsecure("noredir.test", p2); err != nil {
		t.Errorf("no_redirect site does not serve TLS: %v", err)
	}
	if r := get(t, client(), "http://off.test:"+p3+"/hello.txt"); r.status != 200 {
		t.Errorf("tls off site over plain HTTP: %d", r.status)
	}

	// Client authentication: the right name with a client certificate works; another server name
	// (without client authentication) carrying Host mtls.test is refused.
	mc := tlsClient(t, ca.pool)
	mc.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{clientPair}
	if r := get(t, mc, "https://mtls.test:"+port+"/hello.txt"); r.status != 200 {
		t.Errorf("mtls site with a client certificate: %d", r.status)
	}
	h1 := tlsClient(t, ca.pool)
	h1.Transport.(*http.Transport).ForceAttemptHTTP2 = false // HTTP/1.1 shows Connection: close as resp.Close
	resp, err := h1.Do(mustRequest(t, "https://other.test:"+port+"/hello.txt", "mtls.test"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || !resp.Close {
		t.Errorf("Host mtls.test over a connection for other.test: %d close=%v, want 403 and close", resp.StatusCode, resp.Close)
	}
	if strings.Contains(p.stderr.String(), "127.0.0.1:1") {
		t.Errorf("casket contacted the CA although no site needs it:\n%s", p.stderr)
	}
}

// TestE2EValidateHTTPS: -validate neither contacts the CA nor creates the storage folder, but user
// certificate files must load.
func TestE2EValidateHTTPS(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	storage := filepath.Join(dir, "casketpath")
	good := writeConf(t, dir, "a.casket.test {\n\troot www\n}\nlocalhost:2999 {\n\ttls self_signed\n}\n")
	code, stdout, stderr := runCasket(t, env{"CASKETPATH": storage}, "", "-validate", "-conf", good, "-ca", "https://127.0.0.1:1/dir")
	if code != 0 || !strings.Contains(stdout, "Casketfile is valid") {
		t.Errorf("-validate: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(storage); !os.IsNotExist(err) {
		t.Errorf("-validate created the storage folder (%v)", err)
	}
	bad := writeConf(t, t.TempDir(), "a.casket.test {\n\ttls "+filepath.Join(dir, "no.crt")+" "+filepath.Join(dir, "no.key")+"\n}\n")
	code, _, stderr = runCasket(t, env{"CASKETPATH": storage}, "", "-validate", "-conf", bad)
	if code != 1 || !strings.Contains(stderr, "Casketfile:2") {
		t.Errorf("-validate with missing certificate files: exit %d, stderr %q", code, stderr)
	}
}

// handshakeInsecure connects with SNI name without verifying, returning the leaf.
func handshakeInsecure(name, port string) (*x509.Certificate, []byte, error) {
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil, nil
}

// mustRequest builds a GET for url with the Host header host.
func mustRequest(t *testing.T, url, host string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	return req
}

// TestE2EDemoCasketfile: the `make run` demo, HTTPS site included, is valid.
func TestE2EDemoCasketfile(t *testing.T) {
	code, stdout, stderr := runCasket(t, env{"CASKETPATH": t.TempDir()}, "", "-validate", "-conf", "../demo/Casketfile")
	if code != 0 || !strings.Contains(stdout, "Casketfile is valid") {
		t.Errorf("demo Casketfile: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestE2ERedirectPortBusy: when the HTTP port cannot be bound only because of automatic redirects, the
// start-up error says how to avoid it.
func TestE2ERedirectPortBusy(t *testing.T) {
	needBinary(t)
	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	httpPort := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	conf := writeConf(t, t.TempDir(), "localhost {\n\ttls self_signed\n}\n")
	code, _, stderr := runCasket(t, env{"CASKETPATH": t.TempDir()}, "", "-conf", conf, "-port", freePort(t), "-http-port", httpPort)
	if code != 1 || !strings.Contains(stderr, "tls { no_redirect }") {
		t.Errorf("exit %d, stderr %q; want 1 and a hint", code, stderr)
	}
}
