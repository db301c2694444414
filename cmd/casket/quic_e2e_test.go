package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// quicConf is a self-signed site on port with a marker header, to tell configurations apart.
func quicConf(port, marker string) string {
	return fmt.Sprintf("localhost:%s {\n\troot www\n\ttls self_signed\n\theader / X-Config %s\n}\n", port, marker)
}

// h3Response is what an HTTP/3 GET returned.
type h3Response struct {
	proto, body, config string
	status              int
}

// getH3 fetches url over HTTP/3 with a fresh client (so a reload's new listener configuration is what
// answers), trusting any certificate: the site's is self-signed.
func getH3(url string) (h3Response, error) {
	tr := &http3.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.Close()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return h3Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return h3Response{}, err
	}
	return h3Response{proto: resp.Proto, body: string(b), config: resp.Header.Get("X-Config"), status: resp.StatusCode}, nil
}

// udpFree reports whether a UDP socket can be bound on port.
func udpFree(port string) bool {
	pc, err := net.ListenPacket("udp", ":"+port)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// TestE2EQUIC: with -quic a TLS site also answers HTTP/3 on the same port (UDP), its HTTPS responses
// announce it with Alt-Svc, HTTP/3 keeps answering across reloads (no bind failure on the UDP socket,
// caddy#1816) with the new configuration, and SIGTERM exits 0 and frees the UDP port.
func TestE2EQUIC(t *testing.T) {
	needBinary(t)
	port, httpPort, dir := freePort(t), freePort(t), t.TempDir()
	if !udpFree(port) {
		t.Fatalf("UDP port %s is taken", port)
	}
	conf := writeConf(t, dir, quicConf(port, "one"))
	p := newProc(t, env{"CASKETPATH": filepath.Join(dir, "casketpath")}, "-quic", "-conf", conf, "-http-port", httpPort, "-log", "stderr", "-grace", "5s").start()
	p.waitBanner()

	// TCP: HTTPS with the announcement.
	c := tlsClient(t, nil)
	c.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
	r := get(t, c, "https://localhost:"+port+"/hello.txt")
	if r.status != 200 || r.body != "hello e2e\n" {
		t.Fatalf("HTTPS over TCP: %d %q", r.status, r.body)
	}
	if want := `h3=":` + port + `"; ma=2592000`; r.header.Get("Alt-Svc") != want {
		t.Errorf("Alt-Svc = %q, want %q", r.header.Get("Alt-Svc"), want)
	}

	// UDP: the same file over HTTP/3.
	url := "https://localhost:" + port + "/hello.txt"
	h3, err := getH3(url)
	if err != nil {
		t.Fatalf("HTTP/3 GET: %v", err)
	}
	if h3.status != 200 || h3.body != "hello e2e\n" || h3.proto != "HTTP/3.0" || h3.config != "one" {
		t.Errorf("HTTP/3 GET: %d %q over %s (X-Config %q), want 200 %q over HTTP/3.0 (one)", h3.status, h3.body,
			h3.proto, h3.config, "hello e2e\n")
	}

	// Two reloads: each new configuration answers over HTTP/3.
	for i, marker := range []string{"two", "three"} {
		writeConf(t, dir, quicConf(port, marker))
		p.signal(syscall.SIGUSR1)
		waitFor(t, 10*time.Second, func() bool { return strings.Count(p.stderr.String(), `reloaded`) > i }, "reload "+marker)
		waitFor(t, 10*time.Second, func() bool {
			h3, err := getH3(url)
			return err == nil && h3.status == 200 && h3.config == marker && h3.body == "hello e2e\n"
		}, "HTTP/3 answering with configuration "+marker)
	}
	for _, bad := range []string{"reload failed", "address already in use", "bind"} {
		if strings.Contains(p.stderr.String(), bad) {
			t.Errorf("stderr mentions %q:\n%s", bad, p.stderr)
		}
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\nstderr:\n%s", code, p.stderr)
	}
	if !udpFree(port) {
		t.Errorf("UDP port %s still bound after exit", port)
	}
}

// TestE2EQUICClientAuth: -quic with a site requiring client certificates fails start-up and says why.
func TestE2EQUICClientAuth(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	port := freePort(t)
	conf := writeConf(t, dir, "localhost:"+port+" {\n\troot www\n}\nmtls.test:"+port+" {\n\troot www\n\ttls self_signed {\n\t\tclients "+
		ca.file+"\n\t}\n}\n")
	code, _, stderr := runCasket(t, env{"CASKETPATH": filepath.Join(dir, "casketpath")}, "", "-quic", "-conf", conf)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstderr:\n%s", code, stderr)
	}
	want := "site mtls.test:" + port + " cannot be served with -quic: it requires client certificates (tls { clients }), " +
		"and mutual TLS is not supported over HTTP/3"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}
