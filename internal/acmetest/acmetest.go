// Package acmetest runs Pebble, Let's Encrypt's ACME test server, for Casket's tests: on loopback ports,
// without validation delays, with a tiny DNS server that resolves every name to 127.0.0.1.
package acmetest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Options configure one Pebble instance.
type Options struct {
	// HTTPPort and TLSPort are where Pebble's validation authority connects for HTTP-01 and TLS-ALPN-01:
	// the ports the Casket side under test listens on. Zero picks free ports.
	HTTPPort, TLSPort int
	// Validity is the lifetime of issued certificates; zero means 90 days.
	Validity time.Duration
	// Blocklist lists domains Pebble refuses to issue for.
	Blocklist []string
	// OCSPResponderURL is written into issued certificates; Pebble runs no responder itself.
	OCSPResponderURL string
	// KeyAlgorithm of Pebble's CA: "ecdsa" (default) or "rsa" (needed to fetch the CA keys for OCSP).
	KeyAlgorithm string
	// DNSServer is the host:port (TCP and UDP) Pebble resolves names through, e.g. a BIND from
	// internal/dnstest for DNS-01; empty starts the built-in server answering A 127.0.0.1 for every name.
	DNSServer string
}

// Pebble is a running Pebble instance.
type Pebble struct {
	DirectoryURL      string         // the ACME directory, unique per instance
	DirectoryRootFile string         // PEM of the CA that signed Pebble's own HTTPS certificate
	DirectoryRoots    *x509.CertPool // the same, as a pool (trust it in the ACME client)
	Roots             *x509.CertPool // the roots issued certificates chain to (trust them in TLS clients)
	RootPEM           []byte         // the issuing root, PEM
	HTTPPort, TLSPort int            // challenge ports Pebble validates against

	t       testing.TB
	cmd     *exec.Cmd
	mgmt    string
	log     *syncBuffer
	client  *http.Client
	stopped atomic.Bool
}

var instances atomic.Int64

// Start runs Pebble for the test and stops it when the test ends. It needs the go command (to find Pebble
// in the module cache and build it once), or PEBBLE_BIN naming a built binary.
func Start(t testing.TB, opts Options) *Pebble {
	t.Helper()
	bin := pebbleBinary(t)
	modDir, _ := pebbleModule(t)
	if opts.HTTPPort == 0 {
		opts.HTTPPort = FreePort(t)
	}
	if opts.TLSPort == 0 {
		opts.TLSPort = FreePort(t)
	}
	if opts.KeyAlgorithm == "" {
		opts.KeyAlgorithm = "ecdsa"
	}
	validity := int64(opts.Validity / time.Second)
	if validity <= 0 {
		validity = 90 * 24 * 3600
	}
	dnsAddr := opts.DNSServer
	if dnsAddr == "" {
		dnsAddr = startDNS(t)
	}
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", FreePort(t)), fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	certs := filepath.Join(modDir, "test", "certs")
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             filepath.Join(certs, "localhost", "cert.pem"),
		"privateKey":              filepath.Join(certs, "localhost", "key.pem"),
		"httpPort":                opts.HTTPPort,
		"tlsPort":                 opts.TLSPort,
		"ocspResponderURL":        opts.OCSPResponderURL,
		"domainBlocklist":         append([]string{"blocked-domain.example"}, opts.Blocklist...),
		"retryAfter":              map[string]int{"authz": 0, "order": 0},
		"keyAlgorithm":            opts.KeyAlgorithm,
		"profiles": map[string]any{
			"default": map[string]any{"description": "test profile", "validityPeriod": validity},
		},
	}}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "pebble.json")
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	p := &Pebble{
		DirectoryURL:      fmt.Sprintf("https://%s/dir?instance=%d-%d", listen, os.Getpid(), instances.Add(1)),
		DirectoryRootFile: filepath.Join(certs, "pebble.minica.pem"),
		HTTPPort:          opts.HTTPPort,
		TLSPort:           opts.TLSPort,
		t:                 t,
		mgmt:              "https://" + mgmt,
		log:               new(syncBuffer),
	}
	minica, err := os.ReadFile(p.DirectoryRootFile)
	if err != nil {
		t.Fatal(err)
	}
	p.DirectoryRoots = x509.NewCertPool()
	p.DirectoryRoots.AppendCertsFromPEM(minica)
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.DirectoryRoots}}}

	p.cmd = exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr)
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting pebble: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := p.client.Get(p.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v\n%s", err, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.RootPEM = p.get("/roots/0")
	p.Roots = x509.NewCertPool()
	if !p.Roots.AppendCertsFromPEM(p.RootPEM) {
		t.Fatalf("pebble /roots/0 returned no certificate")
	}
	return p
}

// Stop kills Pebble (tests use it to make the CA unreachable). It is safe to call twice.
func (p *Pebble) Stop() {
	if p.stopped.Swap(true) {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// Orders counts the orders Pebble has created.
func (p *Pebble) Orders() int { return strings.Count(p.log.String(), "Added order") }

// Issued counts the certificates Pebble has issued.
func (p *Pebble) Issued() int { return strings.Count(p.log.String(), "Issued certificate serial") }

// Log returns Pebble's output so far.
func (p *Pebble) Log() string { return p.log.String() }

// CertStatus returns "Valid" or "Revoked" for the certificate with serial, from the management API.
func (p *Pebble) CertStatus(serial *big.Int) string {
	var st struct{ Status string }
	if err := json.Unmarshal(p.get(fmt.Sprintf("/cert-status-by-serial/%x", serial)), &st); err != nil {
		p.t.Fatalf("pebble cert status: %v", err)
	}
	return st.Status
}

// Intermediate returns the PEM of the intermediate that signs issued certificates.
func (p *Pebble) Intermediate() []byte { return p.get("/intermediates/0") }

// IntermediateKey returns the PEM private key of the intermediate (KeyAlgorithm "rsa" only).
func (p *Pebble) IntermediateKey() []byte { return p.get("/intermediate-keys/0") }

func (p *Pebble) get(path string) []byte {
	p.t.Helper()
	resp, err := p.client.Get(p.mgmt + path)
	if err != nil {
		p.t.Fatalf("pebble management %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("pebble management %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDNS serves A 127.0.0.1 for every name (and no AAAA) over UDP and TCP, until the test ends.
func startDNS(t testing.TB) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})
	pc, ln, err := listenUDPAndTCP()
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return addr
}

var (
	buildOnce  sync.Once
	buildBin   string
	buildErr   error
	modOnce    sync.Once
	modDir     string
	modVersion string
	modErr     error
)

// pebbleBinary returns $PEBBLE_BIN, or Pebble (the version pinned by go.mod) built once and kept in the
// user cache folder, so later test runs start at once.
func pebbleBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("PEBBLE_BIN"); bin != "" {
		return bin
	}
	_, version := pebbleModule(t)
	buildOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "casket-acmetest")
		buildBin = filepath.Join(dir, "pebble-"+version)
		if _, err := os.Stat(buildBin); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		tmp := fmt.Sprintf("%s.%d.tmp", buildBin, os.Getpid())
		out, err := exec.Command("go", "build", "-o", tmp, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build pebble: %v\n%s", err, out)
			return
		}
		buildErr = os.Rename(tmp, buildBin) // atomic: concurrent test binaries may race to build it
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// pebbleModule finds Pebble's module folder (for its test certificates) and version in the module cache.
func pebbleModule(t testing.TB) (dir, version string) {
	t.Helper()
	modOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}|{{.Version}}", "github.com/letsencrypt/pebble/v2").Output()
		if err != nil {
			modErr = fmt.Errorf("go list pebble module: %v", err)
			return
		}
		modDir, modVersion, _ = strings.Cut(strings.TrimSpace(string(out)), "|")
	})
	if modErr != nil {
		t.Fatal(modErr)
	}
	return modDir, modVersion
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// listenUDPAndTCP binds a UDP socket on a free loopback port and a TCP socket on the same port number.
// The TCP twin of a free UDP port may be taken by another test process, so it tries several ports.
func listenUDPAndTCP() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, lastErr
}
