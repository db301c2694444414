package main

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
)

// managedConf serves three qualifying names (two in one block) from testdata/e2e/www.
const managedConf = `a.casket.test, b.casket.test {
	root www
}
c.casket.test {
	root www
	header / X-Site c
}
`

var managedNames = []string{"a.casket.test", "b.casket.test", "c.casket.test"}

// TestE2EHTTPSIssuance: casket obtains certificates from Pebble through each challenge, serves a chain
// that verifies against Pebble's root alone, redirects HTTP to HTTPS, writes private files only, and after
// a restart serves the stored certificates at once without a new order.
func TestE2EHTTPSIssuance(t *testing.T) {
	for _, tc := range []struct {
		name, other string
		disable     string
	}{
		{"http-01", "tls-alpn-01", "-disable-tls-alpn-challenge"},
		{"tls-alpn-01", "http-01", "-disable-http-challenge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newACMEEnv(t, acmetest.Options{})
			conf := writeConf(t, t.TempDir(), managedConf)
			p := a.start(conf, tc.disable)
			serials := map[string]string{}
			for _, n := range managedNames {
				leaf := waitCert(t, n, a.httpsPort, a.peb.Roots, 60*time.Second)
				if err := leaf.VerifyHostname(n); err != nil {
					t.Error(err)
				}
				serials[n] = leaf.SerialNumber.String()
			}
			log := p.stderr.String()
			if !strings.Contains(log, `"challenge_type": "`+tc.name+`"`) || strings.Contains(log, `"challenge_type": "`+tc.other+`"`) {
				t.Errorf("the log does not show %s alone being solved", tc.name)
			}
			if got := a.peb.Issued(); got != len(managedNames) {
				t.Errorf("pebble issued %d certificates, want %d", got, len(managedNames))
			}

			c := tlsClient(t, a.peb.Roots)
			r := get(t, c, "https://a.casket.test:"+a.httpsPort+"/hello.txt")
			if r.status != 200 || r.body != "hello e2e\n" {
				t.Errorf("GET https a/hello.txt = %d %q", r.status, r.body)
			}
			if r := get(t, c, "https://c.casket.test:"+a.httpsPort+"/hello.txt"); r.status != 200 || r.header.Get("X-Site") != "c" {
				t.Errorf("GET https c/hello.txt = %d %v", r.status, r.header)
			}
			// HTTP redirects to HTTPS with path and query kept; -https-port is "the HTTPS port", so no port.
			for _, n := range managedNames {
				resp, err := c.Get("http://" + n + ":" + a.httpPort + "/sub/page.html?x=1&y=%20z")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				want := "https://" + n + "/sub/page.html?x=1&y=%20z"
				if resp.StatusCode != 301 || resp.Header.Get("Location") != want || !resp.Close {
					t.Errorf("GET http %s = %d Location %q close %v, want 301 %q close", n, resp.StatusCode,
						resp.Header.Get("Location"), resp.Close, want)
				}
			}
			checkPermissions(t, a.storage)

			// Restart with the same CASKETPATH: stored certificates are served from the first connection
			// the HTTPS port accepts (not only after the banner), and nothing is ordered.
			p.stop()
			orders := a.peb.Orders()
			newProc(t, a.env, a.args(conf, tc.disable)...).start().waitListening("127.0.0.1:" + a.httpsPort)
			for _, n := range managedNames {
				leaf, _, err := handshake(n, a.httpsPort, a.peb.Roots)
				if err != nil {
					t.Fatalf("%s right after restart: %v", n, err)
				}
				if leaf.SerialNumber.String() != serials[n] {
					t.Errorf("%s: serial changed across restart", n)
				}
			}
			time.Sleep(time.Second)
			if got := a.peb.Orders(); got != orders {
				t.Errorf("pebble orders after restart = %d, want %d (no new order)", got, orders)
			}
		})
	}
}

// TestE2EHTTPSFailuresIsolated: a name the CA refuses does not stop the other sites; with the CA gone,
// a restart still serves the stored certificates.
func TestE2EHTTPSFailuresIsolated(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{Blocklist: []string{"blocked.casket.test"}})
	conf := writeConf(t, t.TempDir(), `ok.casket.test {
	root www
}
blocked.casket.test {
	root www
}
`)
	p := a.start(conf)
	waitCert(t, "ok.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	c := tlsClient(t, a.peb.Roots)
	if r := get(t, c, "https://ok.casket.test:"+a.httpsPort+"/hello.txt"); r.status != 200 {
		t.Errorf("ok site: %d", r.status)
	}
	if _, _, err := handshake("blocked.casket.test", a.httpsPort, a.peb.Roots); err == nil {
		t.Error("blocked.casket.test has a valid certificate; Pebble should have refused it")
	}
	if p.exited() {
		t.Fatalf("casket exited after a refused order: %v", p.err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "blocked.casket.test") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "blocked.casket.test") {
		t.Errorf("the refused name is not in the log:\n%s", p.stderr)
	}
	// HTTP still redirects for the blocked name (the site exists; it just has no certificate yet).
	if r := get(t, c, "http://blocked.casket.test:"+a.httpPort+"/"); r.status != 301 {
		t.Errorf("redirect of the blocked name: %d", r.status)
	}

	p.stop()
	a.peb.Stop()
	a.start(conf)
	if _, _, err := handshake("ok.casket.test", a.httpsPort, a.peb.Roots); err != nil {
		t.Fatalf("stored certificate not served with the CA down: %v", err)
	}
	if r := get(t, c, "https://ok.casket.test:"+a.httpsPort+"/hello.txt"); r.status != 200 {
		t.Errorf("ok site with the CA down: %d", r.status)
	}
}

// TestE2ERevoke: -revoke revokes at the CA and deletes the certificate files; unmanaged names fail.
func TestE2ERevoke(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	conf := writeConf(t, t.TempDir(), "rv.casket.test {\n\troot www\n}\n")
	p := a.start(conf)
	leaf := waitCert(t, "rv.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	p.stop()

	code, _, stderr := runCasket(t, a.env, "", "-ca", a.peb.DirectoryURL, "-revoke", "nope.casket.test")
	if code != 1 || !strings.Contains(stderr, `"nope.casket.test" is not a managed certificate`) {
		t.Errorf("-revoke of an unmanaged name: exit %d, stderr %q", code, stderr)
	}

	code, stdout, stderr := runCasket(t, a.env, "", "-ca", a.peb.DirectoryURL, "-revoke", "rv.casket.test")
	if code != 0 || !strings.Contains(stdout, "Revoked certificate for rv.casket.test") {
		t.Fatalf("-revoke: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)

	}
	if got := a.peb.CertStatus(leaf.SerialNumber); got != "Revoked" {
		t.Errorf("pebble says the certificate is %q, want Revoked", got)
	}
	var left []string
	_ = filepath.WalkDir(a.storage, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "certificates") && strings.Contains(p, "rv.casket.test") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("certificate files left after -revoke: %v", left)
	}
	code, _, stderr = runCasket(t, a.env, "", "-ca", a.peb.DirectoryURL, "-revoke", "rv.casket.test")
	if code != 1 {
		t.Errorf("second -revoke: exit %d, stderr %q; want 1", code, stderr)
	}
}

// TestE2EHTTPSReload: a reload (USR1) gives the new configuration its own certificate manager, which
// serves the stored certificates from the first handshake (a client handshaking in a loop sees no
// failure) and orders only the certificate of the name the reload added.
func TestE2EHTTPSReload(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	dir := t.TempDir()
	conf := writeConf(t, dir, "a.casket.test {\n\troot www\n}\n")
	p := a.start(conf)
	waitCert(t, "a.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	orders := a.peb.Orders()

	var failures, total atomic.Int32
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			total.Add(1)
			if _, _, err := handshake("a.casket.test", a.httpsPort, a.peb.Roots); err != nil {
				failures.Add(1)
				t.Logf("handshake during reload: %v", err)
			}
		}
	}()
	writeConf(t, dir, "a.casket.test {\n\troot www\n}\nd.casket.test {\n\troot www\n}\n")
	p.signal(syscall.SIGUSR1)
	waitLog(t, p, "reloaded", 1)
	waitCert(t, "d.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	p.signal(syscall.SIGUSR1) // same configuration again: nothing to order
	waitLog(t, p, "reloaded", 2)
	time.Sleep(time.Second)
	close(stop)
	<-done
	if failures.Load() != 0 || total.Load() < 10 {
		t.Errorf("%d of %d handshakes failed during the reloads", failures.Load(), total.Load())
	}
	if got := a.peb.Orders(); got != orders+1 {
		t.Errorf("pebble orders = %d, want %d (one for the added name only)", got, orders+1)
	}
	if r := get(t, tlsClient(t, a.peb.Roots), "https://d.casket.test:"+a.httpsPort+"/hello.txt"); r.status != 200 {
		t.Errorf("added site: %d", r.status)
	}
}

// waitLog waits until casket's log holds msg at least n times.
func waitLog(t *testing.T, p *proc, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.stderr.String(), msg) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged %d times within 20s\nstderr:\n%s", msg, n, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EOnDemandTLS: a wildcard site with `tls { ask }` gets a certificate during the first handshake
// for a name the ask endpoint allows, and none for a name it refuses; nothing is ordered at start-up.
func TestE2EOnDemandTLS(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	var asked atomic.Int32
	ask := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.URL.Query().Get("domain") == "ok.casket.test" {
			return
		}
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(ask.Close)
	conf := writeConf(t, t.TempDir(), "*.casket.test {\n\troot www\n\ttls {\n\t\task "+ask.URL+"/allowed\n\t}\n}\n")
	a.start(conf)
	time.Sleep(500 * time.Millisecond)
	if got := a.peb.Orders(); got != 0 {
		t.Errorf("%d orders at start-up, want 0 (on demand)", got)
	}
	leaf := waitCert(t, "ok.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	if err := leaf.VerifyHostname("ok.casket.test"); err != nil {
		t.Error(err)
	}
	if _, _, err := handshake("refused.casket.test", a.httpsPort, a.peb.Roots); err == nil {
		t.Error("refused.casket.test got a certificate although ask refused it")
	}
	if asked.Load() < 2 {
		t.Errorf("ask endpoint called %d times, want at least 2", asked.Load())
	}
	if r := get(t, tlsClient(t, a.peb.Roots), "https://ok.casket.test:"+a.httpsPort+"/hello.txt"); r.status != 200 {
		t.Errorf("on-demand site: %d", r.status)
	}
}

// TestE2EHTTPSRenewal: with short-lived certificates (30s), a reload once the certificate entered the
// last third of its lifetime renews it in the background; a client handshaking in a loop meanwhile sees
// no failure, and the serial changes.
func TestE2EHTTPSRenewal(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{Validity: 30 * time.Second})
	conf := writeConf(t, t.TempDir(), "renew.casket.test {\n\troot www\n}\n")
	p := a.start(conf)
	first := waitCert(t, "renew.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	time.Sleep(time.Until(first.NotAfter.Add(-9 * time.Second)))

	var failures, total atomic.Int32
	stop, done := make(chan struct{}), make(chan struct{})
	var renewed atomic.Bool
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			total.Add(1)
			leaf, _, err := handshake("renew.casket.test", a.httpsPort, a.peb.Roots)
			switch {
			case err != nil:
				failures.Add(1)
				t.Logf("handshake during renewal: %v", err)
			case leaf.SerialNumber.Cmp(first.SerialNumber) != 0:
				renewed.Store(true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	p.signal(syscall.SIGUSR1)
	deadline := time.Now().Add(20 * time.Second)
	for !renewed.Load() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	if !renewed.Load() {
		t.Fatalf("certificate not renewed within 20s of the reload\nstderr:\n%s", p.stderr)
	}
	if failures.Load() != 0 {
		t.Errorf("%d of %d handshakes failed during renewal", failures.Load(), total.Load())
	}
}
