package httpserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/casketserver/casket/tlsmgr"
)

// h3Client speaks HTTP/3 to host, trusting roots; its connections are closed when the test ends.
func h3Client(t *testing.T, host string, roots []*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: host}}
	t.Cleanup(func() { _ = tr.Close() })
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

var altSvcRE = regexp.MustCompile(`^h3=":(\d+)"; ma=2592000$`)

// getTCP fetches / from in over HTTPS on TCP with SNI sni and Host host, trusting roots, and closes the
// body and the client's idle connections (so that draining the TCP side does not wait for them).
func getTCP(t *testing.T, in *Instance, sni, host string, roots []*x509.Certificate) *http.Response {
	t.Helper()
	c := tlsClient(t, true, roots...)
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = sni
	req, _ := http.NewRequest("GET", "https://"+in.ListenerAddrs()[0].String()+"/", nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
	return resp
}

// altSvcPort fetches / over TCP from host on in and returns the HTTP/3 port its Alt-Svc header names.
func altSvcPort(t *testing.T, in *Instance, host string, roots []*x509.Certificate) string {
	t.Helper()
	resp := getTCP(t, in, host, host, roots)
	m := altSvcRE.FindStringSubmatch(resp.Header.Get("Alt-Svc"))
	if m == nil {
		t.Fatalf("Alt-Svc over %s = %q, want h3=\":port\"; ma=2592000", resp.Proto, resp.Header.Get("Alt-Svc"))
	}
	return m[1]
}

// h3Get fetches path from host over HTTP/3 on 127.0.0.1:port.
func h3Get(t *testing.T, c *http.Client, host, port, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://127.0.0.1:"+port+path, nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("HTTP/3 GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	return resp, readAll(t, resp)
}

func buildTLS(t *testing.T, src string, assign func(*Site) string) *Instance {
	t.Helper()
	in, err := Build(parseBlocks(t, src), Options{Directives: serverDirectives(), Final: okFinal, HTTP3: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range in.Sites() {
		assign(s)
	}
	return in
}

func TestHTTP3Serve(t *testing.T) {
	assign, roots := tlsSites(t)
	in := buildTLS(t, tlsConfigText, assign)
	startBuilt(t, in, newPool(t))
	port := altSvcPort(t, in, "a.example", roots)

	tests := []struct {
		name, host, path, body string
		status                 int
	}{
		{name: "a's certificate", host: "a.example", path: "/", body: "HTTP/3.0", status: 200},
		{name: "SNI picks b's certificate", host: "b.example", path: "/p", body: "/p", status: 200},
		{name: "wildcard", host: "x.wild.example", path: "/", body: "HTTP/3.0", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h3Get(t, h3Client(t, tt.host, roots), tt.host, port, tt.path)
			if resp.StatusCode != tt.status || body != tt.body || resp.Proto != "HTTP/3.0" {
				t.Errorf("got %d %q over %s, want %d %q over HTTP/3.0", resp.StatusCode, body, resp.Proto, tt.status, tt.body)
			}
			if resp.Header.Get("Alt-Svc") != "" {
				t.Errorf("HTTP/3 response announces Alt-Svc %q", resp.Header.Get("Alt-Svc"))
			}
			if resp.Header.Get("Server") != "Casket" {
				t.Errorf("Server header %q", resp.Header.Get("Server"))
			}
		})
	}
}

func TestHTTP3NoAltSvcWithoutFlag(t *testing.T) {
	assign, roots := tlsSites(t)
	in := startTLSInstance(t, tlsConfigText, assign, false)
	resp := getTCP(t, in, "a.example", "a.example", roots)
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("Alt-Svc %q without HTTP3", v)
	}
}

// A reload starts the new instance on the UDP socket the old one serves; after the old one stops, the
// new one answers HTTP/3, with its own configuration.
func TestHTTP3Reload(t *testing.T) {
	assign, roots := tlsSites(t)
	pool := newPool(t)
	oldIn := buildTLS(t, "a.example:0 {\n testbind\n respond proto\n}", assign)
	if err := oldIn.Start(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	port := altSvcPort(t, oldIn, "a.example", roots)
	if _, body := h3Get(t, h3Client(t, "a.example", roots), "a.example", port, "/x"); body != "HTTP/3.0" {
		t.Fatalf("old instance answered %q", body)
	}

	newIn := buildTLS(t, "a.example:0 {\n testbind\n respond info\n}", assign)
	startBuilt(t, newIn, pool) // would fail to bind if the pool did not reuse the UDP socket
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := oldIn.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := altSvcPort(t, newIn, "a.example", roots); got != port {
		t.Errorf("new instance announces port %s, want the same socket's %s", got, port)
	}
	resp, body := h3Get(t, h3Client(t, "a.example", roots), "a.example", port, "/x")
	if body != "/x" || resp.Proto != "HTTP/3.0" {
		t.Errorf("after reload got %q over %s, want the new instance's /x over HTTP/3.0", body, resp.Proto)
	}
}

// Stop closes the UDP socket once no instance holds it, even with a client connection open.
func TestHTTP3StopClosesSocket(t *testing.T) {
	assign, roots := tlsSites(t)
	pool := newPool(t)
	in := buildTLS(t, "a.example:0 {\n testbind\n respond proto\n}", assign)
	if err := in.Start(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	port := altSvcPort(t, in, "a.example", roots)
	c := h3Client(t, "a.example", roots)
	h3Get(t, c, "a.example", port, "/")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %v: an idle HTTP/3 client should close its connection on GOAWAY", d)
	}
	pool.mu.Lock()
	n := len(pool.udp)
	pool.mu.Unlock()
	if n != 0 {
		t.Errorf("pool still holds %d UDP sockets", n)
	}
	req, _ := http.NewRequest("GET", "https://127.0.0.1:"+port+"/", nil)
	req.Host = "a.example"
	c.Timeout = 500 * time.Millisecond
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Error("HTTP/3 still answers after Stop")
	}
}

func TestCheckHTTP3(t *testing.T) {
	site := func(key string, tlsOn bool, p *tlsmgr.Policy) *Site {
		s := &Site{TLS: p}
		s.Addr.Host = key
		if tlsOn {
			s.TLSConfig = &tls.Config{}
		}
		return s
	}
	tests := []struct {
		name    string
		site    *Site
		wantErr string
	}{
		{name: "plain TLS", site: site("a.example", true, nil)},
		{name: "TLS policy without clients", site: site("a.example", true, &tlsmgr.Policy{})},
		{name: "plain HTTP", site: site("a.example", false, &tlsmgr.Policy{ClientAuth: tls.RequireAndVerifyClientCert})},
		{name: "clients require", site: site("m.example", true, &tlsmgr.Policy{ClientAuth: tls.RequireAndVerifyClientCert}),
			wantErr: "site m.example cannot be served with -quic: it requires client certificates (tls { clients })"},
		{name: "clients request", site: site("r.example", true, &tlsmgr.Policy{ClientAuth: tls.RequestClientCert}),
			wantErr: "mutual TLS is not supported over HTTP/3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := checkHTTP3([]*Site{tt.site})
			switch {
			case tt.wantErr == "" && len(errs) > 0:
				t.Errorf("unexpected error %v", errs)
			case tt.wantErr != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr)):
				t.Errorf("errors %v, want one containing %q", errs, tt.wantErr)
			}
		})
	}
}

// A site whose TLS settings exclude TLS 1.3 cannot be reached over QUIC: its responses do not announce
// HTTP/3, while the other sites of the listener still do.
func TestHTTP3NoAltSvcWithoutTLS13(t *testing.T) {
	certA, leafA := selfSigned(t, "a.example")
	certB, leafB := selfSigned(t, "b.example")
	cfgA := &tls.Config{Certificates: []tls.Certificate{certA}}
	cfgB := &tls.Config{Certificates: []tls.Certificate{certB}, MaxVersion: tls.VersionTLS12}
	in := buildTLS(t, "a.example:0 {\n testbind\n respond proto\n}\nb.example:0 {\n testbind\n respond proto\n}", func(s *Site) string {
		s.TLSConfig = cfgA
		if s.Addr.Host == "b.example" {
			s.TLSConfig = cfgB
		}
		return ""
	})
	startBuilt(t, in, newPool(t))
	roots := []*x509.Certificate{leafA, leafB}
	altSvcPort(t, in, "a.example", roots)
	for _, names := range [][2]string{{"b.example", "b.example"}, {"a.example", "other.example"}} { // SNI, Host
		sni, host := names[0], names[1]
		resp := getTCP(t, in, sni, host, roots)
		if v := resp.Header.Get("Alt-Svc"); v != "" {
			t.Errorf("%s: Alt-Svc %q", host, v)
		}
	}
}

// Stopping the old instance of a reload lets an HTTP/3 request in flight finish (GOAWAY, then wait),
// while new connections go to the new instance.
func TestHTTP3ReloadFinishesInFlight(t *testing.T) {
	assign, roots := tlsSites(t)
	pool := newPool(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	oldIn, err := Build(parseBlocks(t, "a.example:0 {\n testbind\n block\n}"), Options{
		Directives: append(serverDirectives(), blockingDirective(entered, release)), Final: okFinal, HTTP3: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range oldIn.Sites() {
		assign(s)
	}
	if err := oldIn.Start(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	// Not altSvcPort: every request to the old instance blocks.
	port := strconv.Itoa(oldIn.servers[0].h3.sock.pc.LocalAddr().(*net.UDPAddr).Port)

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+port+"/", nil)
		req.Host = "a.example"
		resp, err := h3Client(t, "a.example", roots).Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		got <- result{b.String(), err}
	}()
	<-entered

	newIn := buildTLS(t, "a.example:0 {\n testbind\n respond proto\n}", assign)
	startBuilt(t, newIn, pool)
	ps := oldIn.servers[0].h3.sock
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- oldIn.Stop(ctx)
	}()
	// New connections reach the new instance while the old one waits for its request (once it has
	// begun to stop: before that, both instances take connections).
	for held := 2; held > 1; time.Sleep(5 * time.Millisecond) {
		ps.mu.Lock()
		held = len(ps.holders)
		ps.mu.Unlock()
	}
	time.Sleep(50 * time.Millisecond) // drop, then Shutdown
	if _, body := h3Get(t, h3Client(t, "a.example", roots), "a.example", port, "/"); body != "HTTP/3.0" {
		t.Errorf("new connection during the drain answered %q", body)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) before the request in flight finished", err)
	default:
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Errorf("request in flight: %q, %v; want finished", r.body, r.err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Stop did not return after the request finished")
	}
}
