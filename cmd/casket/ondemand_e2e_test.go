package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
)

// handshakeWithin is handshake with a longer timeout, for handshakes that wait for an order or for ask.
func handshakeWithin(name, port string, roots *x509.CertPool, timeout time.Duration) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", "127.0.0.1:"+port,
		&tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitLogLine waits up to 3 seconds for a line of p's log containing every one of parts (the log arrives
// through a pipe, a moment after the event).
func waitLogLine(p *proc, parts ...string) bool {
	deadline := time.Now().Add(3 * time.Second)
	for {
		if len(logLines(p.stderr.String(), parts...)) > 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLines returns the lines of casket's log that contain every one of parts.
func logLines(log string, parts ...string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// TestE2EOnDemandMaxCerts: with `max_certs 2` and no ask, a new name gets its certificate during its very
// first handshake (no polling), the next handshake is served from memory, the third name is refused
// with a logged reason, HTTP redirects to HTTPS, and a restart reuses the stored certificates.
func TestE2EOnDemandMaxCerts(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	conf := writeConf(t, t.TempDir(), "*.casket.test {\n\troot www\n\ttls {\n\t\tmax_certs 2\n\t}\n}\n")
	p := a.start(conf)
	time.Sleep(300 * time.Millisecond)
	if got := a.peb.Orders(); got != 0 {
		t.Errorf("%d orders at start-up, want 0", got)
	}
	start := time.Now()
	leaf, err := handshakeWithin("one.casket.test", a.httpsPort, a.peb.Roots, 30*time.Second)
	if err != nil {
		t.Fatalf("first handshake: %v\nstderr:\n%s", err, p.stderr)
	}
	t.Logf("first handshake with issuance: %v", time.Since(start))
	if err := leaf.VerifyHostname("one.casket.test"); err != nil {
		t.Error(err)
	}
	again, _, err := handshake("one.casket.test", a.httpsPort, a.peb.Roots)
	if err != nil || again.SerialNumber.Cmp(leaf.SerialNumber) != 0 || a.peb.Orders() != 1 {
		t.Fatalf("second handshake: %v, orders %d", err, a.peb.Orders())
	}
	if _, err := handshakeWithin("two.casket.test", a.httpsPort, a.peb.Roots, 30*time.Second); err != nil {
		t.Fatalf("second name: %v", err)
	}
	if _, _, err := handshake("three.casket.test", a.httpsPort, a.peb.Roots); err == nil {
		t.Error("third name got a certificate past max_certs 2")
	}
	if a.peb.Orders() != 2 {
		t.Errorf("orders = %d, want 2", a.peb.Orders())
	}
	if !waitLogLine(p, "on-demand certificate denied", "three.casket.test", "max_certs") {
		log := p.stderr.String()
		t.Errorf("no logged denial for three.casket.test:\n%s", strings.Join(logLines(log, "three.casket.test"), "\n"))
	}
	if len(logLines(p.stderr.String(), "on-demand challenge started", "one.casket.test")) != 1 {
		t.Errorf("challenge for one.casket.test not logged once")
	}
	c := tlsClient(t, a.peb.Roots)
	if r := get(t, c, "https://one.casket.test:"+a.httpsPort+"/hello.txt"); r.status != 200 {
		t.Errorf("GET https one.casket.test = %d", r.status)
	}
	resp, err := c.Get("http://one.casket.test:" + a.httpPort + "/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://one.casket.test") {
		t.Errorf("HTTP on the on-demand site: %d %q, want a redirect to HTTPS", resp.StatusCode, resp.Header.Get("Location"))
	}

	// restart: both stored certificates are served without an order
	p.stop()
	orders := a.peb.Orders()
	a.start(conf)
	for _, n := range []string{"one.casket.test", "two.casket.test"} {
		if _, err := handshakeWithin(n, a.httpsPort, a.peb.Roots, 10*time.Second); err != nil {
			t.Errorf("%s after restart: %v", n, err)
		}
	}
	if got := a.peb.Orders(); got != orders {
		t.Errorf("orders after restart = %d, want %d", got, orders)
	}
}

// TestE2EOnDemandAskAnswers: ask answering 200 / 403 / a redirect / nothing within 10 seconds, and an
// unreachable ask endpoint → allowed / denied ×4, each denial logged with its reason; the client's IP
// reaches the endpoint.
func TestE2EOnDemandAskAnswers(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	var mu sync.Mutex
	ips := map[string]string{}
	ask := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		domain := r.URL.Query().Get("domain")
		mu.Lock()
		ips[domain] = r.URL.Query().Get("ip")
		mu.Unlock()
		switch strings.SplitN(domain, ".", 2)[0] {
		case "ok":
		case "redir":
			http.Redirect(w, r, "/?domain=ok.ask.casket.test", http.StatusFound)
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(15 * time.Second):
			}
		default:
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(ask.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	conf := writeConf(t, t.TempDir(), "*.ask.casket.test {\n\troot www\n\ttls {\n\t\task "+ask.URL+"/check\n\t}\n}\n"+
		"*.dead.casket.test {\n\troot www\n\ttls {\n\t\task "+dead.URL+"/check\n\t}\n}\n")
	p := a.start(conf)

	slowDone := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		_, _ = handshakeWithin("slow.ask.casket.test", a.httpsPort, a.peb.Roots, 20*time.Second)
		slowDone <- time.Since(start)
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := handshakeWithin("ok.ask.casket.test", a.httpsPort, a.peb.Roots, 30*time.Second); err != nil {
		t.Fatalf("ask 200: %v\nstderr:\n%s", err, p.stderr)
	}
	for _, n := range []string{"no.ask.casket.test", "redir.ask.casket.test", "x.dead.casket.test"} {
		start := time.Now()
		if _, _, err := handshake(n, a.httpsPort, a.peb.Roots); err == nil {
			t.Errorf("%s got a certificate", n)
		} else if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: denial took %v", n, took)
		}
	}
	took := <-slowDone
	if took < 9*time.Second || took > 15*time.Second {
		t.Errorf("slow ask endpoint: handshake ended after %v, want about 10s", took)
	}
	for n, why := range map[string]string{
		"no.ask.casket.test":    "answered 403",
		"redir.ask.casket.test": "answered 302",
		"slow.ask.casket.test":  "no answer within 10s",
		"x.dead.casket.test":    "unreachable",
	} {
		if !waitLogLine(p, "on-demand certificate denied", n, why) {
			t.Errorf("no denial logged for %s with %q:\n%s", n, why, strings.Join(logLines(p.stderr.String(), n), "\n"))
		}
	}
	if got := a.peb.Orders(); got != 1 {
		t.Errorf("orders = %d, want 1", got)
	}
	mu.Lock()
	if ips["ok.ask.casket.test"] != "127.0.0.1" {
		t.Errorf("ask got ip=%q", ips["ok.ask.casket.test"])
	}
	mu.Unlock()
}

// TestE2EOnDemandConcurrentHandshakes: 100 simultaneous first handshakes for one new name → one order,
// and every handshake gets the certificate.
func TestE2EOnDemandConcurrentHandshakes(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	conf := writeConf(t, t.TempDir(), "*.casket.test {\n\troot www\n\ttls {\n\t\tmax_certs 5\n\t}\n}\n")
	a.start(conf)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	release := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			if _, err := handshakeWithin("swarm.casket.test", a.httpsPort, a.peb.Roots, 30*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	close(release)
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d of 100 handshakes failed, e.g. %v", len(errs), errs[0])
	}
	if got := a.peb.Orders(); got != 1 {
		t.Errorf("orders = %d, want exactly 1", got)
	}
}

// TestE2EOnDemandAbuse: handshakes for 1,000 random names under a wildcard site with `max_certs 10` →
// at most 10 orders; a configured site keeps answering throughout; the storage stays small. A reload
// keeps the count: the limit is for the life of the process.
func TestE2EOnDemandAbuse(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	dir := t.TempDir()
	body := "static.casket.test {\n\troot www\n}\n*.casket.test {\n\troot www\n\ttls {\n\t\tmax_certs 10\n\t}\n}\n"
	conf := writeConf(t, dir, body)
	p := a.start(conf)
	waitCert(t, "static.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	before := a.peb.Orders()

	stop := make(chan struct{})
	var staticFail, staticOK int
	staticDone := make(chan struct{})
	go func() {
		defer close(staticDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			start := time.Now()
			if _, _, err := handshake("static.casket.test", a.httpsPort, a.peb.Roots); err != nil || time.Since(start) > time.Second {
				staticFail++
				t.Logf("configured site: %v after %v", err, time.Since(start))
			} else {
				staticOK++
			}
		}
	}()
	names := make(chan string)
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range names {
				_, _, _ = handshake(n, a.httpsPort, a.peb.Roots)
			}
		}()
	}
	start := time.Now()
	for i := range 1000 {
		names <- fmt.Sprintf("x%04d-%d.casket.test", i, time.Now().UnixNano()%100000)
	}
	close(names)
	wg.Wait()
	// then one new name at a time until the cap: certmagic paces orders, so allow each a while
	for i := 0; a.peb.Orders()-before < 10 && i < 20; i++ {
		_, _ = handshakeWithin(fmt.Sprintf("seq%d.casket.test", i), a.httpsPort, a.peb.Roots, 30*time.Second)
	}
	close(stop)
	<-staticDone
	orders := a.peb.Orders() - before
	t.Logf("1000 random names in %v; %d orders; configured site answered %d times", time.Since(start), orders, staticOK)
	if orders != 10 {
		t.Errorf("orders for on-demand names = %d, want 10 (max_certs)", orders)
	}
	if staticFail > 0 || staticOK == 0 {
		t.Errorf("configured site: %d failed or slow handshakes, %d good", staticFail, staticOK)
	}
	var size int64
	_ = filepath.WalkDir(a.storage, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	t.Logf("storage: %d bytes", size)
	if size > 256<<10 {
		t.Errorf("storage grew to %d bytes for 11 certificates", size)
	}

	// a reload does not reset max_certs
	p.signal(syscall.SIGUSR1)
	waitLog(t, p, "reloaded", 1)
	if _, err := handshakeWithin("afterreload.casket.test", a.httpsPort, a.peb.Roots, 10*time.Second); err == nil {
		t.Error("a new name got a certificate after a reload although max_certs was reached")
	}
	if got := a.peb.Orders() - before; got != 10 {
		t.Errorf("orders after the reload = %d, want 10", got)
	}
}
