package main

import (
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
	"github.com/casketserver/casket/internal/dnstest"
)

// dnsEnv is a DNS-01 test setup: a real authoritative DNS server (BIND or PowerDNS) for casket.test, and a
// Pebble resolving through it whose HTTP-01 and TLS-ALPN-01 ports nobody listens on. casket is given ports
// of its own, so only the DNS challenge can succeed.
type dnsEnv struct {
	t                   *testing.T
	peb                 *acmetest.Pebble
	dnsAddr             string
	httpPort, httpsPort string
	env                 env
}

func newDNSEnv(t *testing.T, dnsAddr string) *dnsEnv {
	t.Helper()
	needBinary(t)
	peb := acmetest.Start(t, acmetest.Options{DNSServer: dnsAddr}) // challenge ports: free, unused
	return &dnsEnv{
		t: t, peb: peb, dnsAddr: dnsAddr, httpPort: freePort(t), httpsPort: freePort(t),
		env: env{"CASKETPATH": filepath.Join(t.TempDir(), "casketpath"), "SSL_CERT_FILE": peb.DirectoryRootFile},
	}
}

// start runs casket on the Casketfile body with extra environment and waits for its banner.
func (d *dnsEnv) start(body string, extra env) *proc {
	d.t.Helper()
	conf := writeConf(d.t, d.t.TempDir(), body)
	e := maps.Clone(d.env)
	maps.Copy(e, extra)
	p := newProc(d.t, e, "-conf", conf, "-ca", d.peb.DirectoryURL, "-http-port", d.httpPort,
		"-https-port", d.httpsPort, "-email", "ops@casket.test", "-agree", "-log", "stderr", "-catimeout", "20s").start()
	p.waitBanner()
	return p
}

// bindCreds writes the TSIG secret to a file and returns the rfc2136 environment: the name server and key
// name as plain variables, the secret through RFC2136_TSIG_SECRET_FILE.
func bindCreds(t *testing.T, bind *dnstest.BIND) env {
	t.Helper()
	f := filepath.Join(t.TempDir(), "tsig.secret")
	if err := os.WriteFile(f, []byte(bind.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return env{"RFC2136_NAMESERVER": bind.Addr, "RFC2136_TSIG_KEY": bind.KeyName, "RFC2136_TSIG_SECRET_FILE": f}
}

// checkDNSOnly checks that casket's log shows the DNS challenge solved and no other challenge tried.
func checkDNSOnly(t *testing.T, p *proc) {
	t.Helper()
	log := p.stderr.String()
	if !strings.Contains(log, `"challenge_type": "dns-01"`) {
		t.Errorf("the log shows no dns-01 challenge")
	}
	for _, other := range []string{"http-01", "tls-alpn-01"} {
		if strings.Contains(log, `"challenge_type": "`+other+`"`) {
			t.Errorf("the log shows a %s challenge; the DNS challenge must be exclusive", other)
		}
	}
}

// checkNoSecret fails if secret appears in anything casket wrote.
func checkNoSecret(t *testing.T, p *proc, what, secret string) {
	t.Helper()
	if strings.Contains(p.stdout.String(), secret) || strings.Contains(p.stderr.String(), secret) {
		t.Errorf("the %s appears in casket's output", what)
	}
}

// waitTXTGone waits until no challenge TXT record is left at _acme-challenge.casket.test on addr.
func waitTXTGone(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := dnstest.TXT(t, addr, "_acme-challenge")
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("challenge TXT records left behind at _acme-challenge.%s: %q", dnstest.Zone, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// servedWildcard checks that names are all served one *.casket.test certificate verifying against roots
// and returns it.
func servedWildcard(t *testing.T, port string, roots *x509.CertPool, names ...string) *x509.Certificate {
	t.Helper()
	first := waitCert(t, names[0], port, roots, 60*time.Second)
	if len(first.DNSNames) != 1 || first.DNSNames[0] != "*."+dnstest.Zone {
		t.Errorf("certificate names %v, want [*.%s]", first.DNSNames, dnstest.Zone)
	}
	for _, n := range names[1:] {
		leaf := waitCert(t, n, port, roots, 10*time.Second)
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Errorf("%s is served serial %x, %s serial %x: want one certificate", n, leaf.SerialNumber, names[0], first.SerialNumber)
		}
	}
	return first
}

// TestE2EDNSWildcardBIND: a *.casket.test site with `dns rfc2136` gets a wildcard certificate through BIND
// (TSIG-signed updates), served for any name under it, with the TXT records removed afterwards, no other
// challenge used, and the TSIG secret nowhere in casket's output.
func TestE2EDNSWildcardBIND(t *testing.T) {
	needBinary(t)
	bind := dnstest.StartBIND(t)
	d := newDNSEnv(t, bind.Addr)
	p := d.start(fmt.Sprintf(`*.casket.test {
	root www
	tls {
		dns rfc2136
		resolvers %s
		dns_ttl 5s
	}
}
`, bind.Addr), bindCreds(t, bind))
	servedWildcard(t, d.httpsPort, d.peb.Roots, "a.casket.test", "b.casket.test")
	r := get(t, tlsClient(t, d.peb.Roots), "https://a.casket.test:"+d.httpsPort+"/hello.txt")
	if r.status != 200 || r.body != "hello e2e\n" {
		t.Errorf("GET https a/hello.txt = %d %q", r.status, r.body)
	}
	if got := d.peb.Orders(); got != 1 {
		t.Errorf("pebble got %d orders, want 1", got)
	}
	waitTXTGone(t, bind.Addr)
	checkDNSOnly(t, p)
	p.stop()
	checkNoSecret(t, p, "TSIG secret", bind.Secret)
}

// TestE2EDNSWildcardSubdirective: two sites with `wildcard` share one *.casket.test certificate from one
// order.
func TestE2EDNSWildcardSubdirective(t *testing.T) {
	needBinary(t)
	bind := dnstest.StartBIND(t)
	d := newDNSEnv(t, bind.Addr)
	tlsBlock := fmt.Sprintf("tls {\n\t\tdns rfc2136\n\t\tresolvers %s\n\t\tdns_ttl 5s\n\t\twildcard\n\t}", bind.Addr)
	p := d.start(fmt.Sprintf("a.casket.test {\n\troot www\n\t%s\n}\nb.casket.test {\n\troot www\n\t%s\n}\n", tlsBlock, tlsBlock),
		bindCreds(t, bind))
	servedWildcard(t, d.httpsPort, d.peb.Roots, "a.casket.test", "b.casket.test")
	time.Sleep(500 * time.Millisecond) // a second order, if any, would show by now
	if got := d.peb.Orders(); got != 1 {
		t.Errorf("pebble got %d orders, want 1", got)
	}
	waitTXTGone(t, bind.Addr)
	checkDNSOnly(t, p)
	p.stop()
	checkNoSecret(t, p, "TSIG secret", bind.Secret)
}

// TestE2EDNSWildcardPowerDNS: the wildcard flow through PowerDNS's HTTP API with `dns pdns`.
func TestE2EDNSWildcardPowerDNS(t *testing.T) {
	needBinary(t)
	pdns := dnstest.StartPowerDNS(t)
	d := newDNSEnv(t, pdns.Addr)
	p := d.start(fmt.Sprintf(`*.casket.test {
	root www
	tls {
		dns pdns
		resolvers %s
		dns_ttl 5s
	}
}
`, pdns.Addr), env{"PDNS_API_URL": pdns.APIURL, "PDNS_API_KEY": pdns.APIKey})
	servedWildcard(t, d.httpsPort, d.peb.Roots, "a.casket.test", "b.casket.test")
	if got := d.peb.Orders(); got != 1 {
		t.Errorf("pebble got %d orders, want 1", got)
	}
	waitTXTGone(t, pdns.Addr)
	checkDNSOnly(t, p)
	p.stop()
	checkNoSecret(t, p, "PowerDNS API key", pdns.APIKey)
}

// TestE2EDNSMissingCredentials: `casket -validate` refuses a DNS provider without its credentials, naming
// the provider and the variables to set, and never prints a credential it was given.
func TestE2EDNSMissingCredentials(t *testing.T) {
	needBinary(t)
	conf := writeConf(t, t.TempDir(), "*.casket.test {\n\ttls {\n\t\tdns rfc2136\n\t}\n}\n")
	const secret = "c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="
	for _, tc := range []struct {
		name    string
		env     env
		want    []string
		notWant string
	}{
		{name: "none", env: env{},
			want: []string{"rfc2136", "RFC2136_NAMESERVER", "RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET"}},
		{name: "key missing", env: env{"RFC2136_NAMESERVER": "127.0.0.1:53", "RFC2136_TSIG_SECRET": secret},
			want: []string{"rfc2136", "RFC2136_TSIG_KEY"}, notWant: "RFC2136_NAMESERVER"},
		{name: "secret file unreadable", env: env{"RFC2136_NAMESERVER": "127.0.0.1:53", "RFC2136_TSIG_KEY": "k",
			"RFC2136_TSIG_SECRET_FILE": filepath.Join(t.TempDir(), "nope")},
			want: []string{"rfc2136", "RFC2136_TSIG_SECRET_FILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env{"CASKETPATH": filepath.Join(t.TempDir(), "casketpath"), "RFC2136_NAMESERVER": "",
				"RFC2136_TSIG_KEY": "", "RFC2136_TSIG_SECRET": "", "RFC2136_TSIG_SECRET_FILE": ""}
			maps.Copy(e, tc.env)
			code, stdout, stderr := runCasket(t, e, "", "-validate", "-conf", conf)
			if code != 1 {
				t.Fatalf("-validate exit %d, want 1\nstdout %q\nstderr %q", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not name %s: %q", w, stderr)
				}
			}
			if tc.notWant != "" && strings.Contains(stderr, tc.notWant+" ") {
				t.Errorf("stderr asks for %s, which is set: %q", tc.notWant, stderr)
			}
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("the secret appears in the output: %q", stderr)
			}
		})
	}
}
