package tlsmgr

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
	"github.com/casketserver/casket/internal/dnstest"
	"github.com/casketserver/casket/internal/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestParseDNSPolicy(t *testing.T) {
	t.Setenv("RFC2136_NAMESERVER", "127.0.0.1:5300")
	t.Setenv("RFC2136_TSIG_KEY", "k")
	t.Setenv("RFC2136_TSIG_SECRET", "c2VjcmV0c2VjcmV0")
	tests := []struct {
		name    string
		src     string
		want    DNSSettings
		wantErr string
	}{
		{name: "knobs", src: "tls {\n dns rfc2136\n propagation_delay 5s\n propagation_timeout -1\n resolvers 1.1.1.1 [::1]:5300\n dns_ttl 2m\n override_domain acme.example.net.\n}",
			want: DNSSettings{PropagationDelay: 5 * time.Second, PropagationTimeout: -1, Resolvers: []string{"1.1.1.1", "[::1]:5300"}, TTL: 2 * time.Minute, OverrideDomain: "acme.example.net"}},
		{name: "seconds as a number", src: "tls {\n dns rfc2136\n propagation_timeout 90\n}", want: DNSSettings{PropagationTimeout: 90 * time.Second}},
		{name: "bad duration", src: "tls {\n dns rfc2136\n propagation_delay soon\n}", wantErr: "propagation_delay"},
		{name: "negative delay", src: "tls {\n dns rfc2136\n propagation_delay -1\n}", wantErr: "propagation_delay"},
		{name: "no resolvers", src: "tls {\n dns rfc2136\n resolvers\n}", wantErr: "resolvers"},
		{name: "bad resolver port", src: "tls {\n dns rfc2136\n resolvers 1.1.1.1:x\n}", wantErr: "invalid port"},
		{name: "knob without provider", src: "tls {\n propagation_timeout 1m\n}", wantErr: "need a DNS provider"},
		{name: "unknown provider", src: "tls {\n dns nosuchdns\n}", wantErr: "available: "},
		{name: "block option unknown", src: "tls {\n dns rfc2136 {\n  colour blue\n }\n}", wantErr: "unknown option(s) in the dns block: colour"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(testutil.Dispenser(t, tc.src))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.DNS.key() != tc.want.key() {
				t.Errorf("got %+v, want %+v", p.DNS, tc.want)
			}
		})
	}
}

func TestParseDNSMissingCredentials(t *testing.T) {
	for _, v := range []string{"RFC2136_NAMESERVER", "RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET", "RFC2136_TSIG_SECRET_FILE"} {
		t.Setenv(v, "")
	}
	_, err := ParsePolicy(testutil.Dispenser(t, "tls {\n dns rfc2136 {\n  tsig_key casket-key\n }\n}"))
	if err == nil {
		t.Fatal("accepted without credentials")
	}
	for _, want := range []string{"rfc2136", "RFC2136_NAMESERVER", "RFC2136_TSIG_SECRET", "RFC2136_TSIG_SECRET_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "RFC2136_TSIG_KEY") {
		t.Errorf("error %q asks for the key given in the block", err)
	}
}

func TestWildcardName(t *testing.T) {
	tests := []struct {
		name, want string
		wantErr    bool
	}{
		{name: "a.example.com", want: "*.example.com"},
		{name: "A.b.Example.com.", want: "*.b.example.com"},
		{name: "*.example.com", want: "*.example.com"},
		{name: "example.com", wantErr: true},
		{name: "localhost", wantErr: true},
		{name: "10.0.0.1", wantErr: true},
	}
	for _, tc := range tests {
		got, err := WildcardName(tc.name)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("WildcardName(%q) = %q, %v; want %q (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestManageWildcardErrors(t *testing.T) {
	m, err := New(Options{StorageDir: t.TempDir(), CA: "https://127.0.0.1:1/dir", Agreed: true, Email: "a@casket.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.lookupEnv = func(string) (string, bool) { return "", false }
	dns := &Policy{DNSProvider: "rfc2136", DNSOptions: map[string]string{"nameserver": "127.0.0.1:1", "tsig_key": "k", "tsig_secret": "c2VjcmV0"}}
	wild := *dns
	wild.Wildcard = true
	for _, tc := range []struct {
		name    string
		names   []string
		p       *Policy
		wantErr string
	}{
		{name: "two labels", names: []string{"example.com"}, p: &wild, wantErr: "too few labels"},
		{name: "wildcard without dns", names: []string{"*.example.com"}, p: nil, wantErr: "needs the DNS challenge"},
		{name: "wildcard subdirective without dns", names: []string{"a.example.com"}, p: &Policy{Wildcard: true}, wantErr: "needs the DNS challenge"},
		{name: "missing credentials", names: []string{"a.example.com"}, p: &Policy{DNSProvider: "rfc2136"}, wantErr: "RFC2136_NAMESERVER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Manage(context.Background(), tc.names, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// logBuffer collects a Manager's log at debug level.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(b), zapcore.DebugLevel))
}

// dnsSite starts BIND, a Pebble resolving through it, and a Manager whose rfc2136 credentials come from
// the environment it sees (the secret as RFC2136_TSIG_SECRET_FILE).
func dnsSite(t *testing.T) (*testSite, *acmetest.Pebble, *dnstest.BIND, *Manager, *logBuffer) {
	t.Helper()
	bind := dnstest.StartBIND(t)
	site := newTestSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort, DNSServer: bind.Addr})
	logs := new(logBuffer)
	m := site.start(peb, t.TempDir(), func(o *Options) { o.Logger = logs.logger() })
	secretFile := filepath.Join(t.TempDir(), "tsig.secret")
	if err := os.WriteFile(secretFile, []byte(bind.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RFC2136_NAMESERVER": bind.Addr, "RFC2136_TSIG_KEY": bind.KeyName, "RFC2136_TSIG_SECRET_FILE": secretFile}
	m.lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	site.policy = &Policy{CA: peb.DirectoryURL, CARoot: peb.DirectoryRootFile, DNSProvider: "rfc2136",
		DNS: DNSSettings{Resolvers: []string{bind.Addr}, TTL: 5 * time.Second, PropagationDelay: 100 * time.Millisecond}}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), bind.Secret) {
			t.Errorf("the TSIG secret appears in the log")
		}
		if t.Failed() {
			t.Logf("manager log:\n%s", logs.String())
		}
	})
	return site, peb, bind, m, logs
}

func TestDNSChallengeBIND(t *testing.T) {
	skipShort(t)
	site, peb, bind, m, logs := dnsSite(t)
	if err := m.Manage(context.Background(), []string{"*.casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	leaf := site.waitCert("anything.casket.test", peb.Roots, 60*time.Second)
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "*.casket.test" {
		t.Errorf("certificate names %v, want [*.casket.test]", leaf.DNSNames)
	}
	if h, a := site.http01.Load(), site.tlsALPN01.Load(); h != 0 || a != 0 {
		t.Errorf("http-01 %d and tls-alpn-01 %d challenges answered; the DNS challenge must be exclusive", h, a)
	}
	if !strings.Contains(logs.String(), `"challenge_type":"dns-01"`) {
		t.Errorf("no dns-01 challenge in the log")
	}
	waitNoTXT(t, bind.Addr)
	if !strings.Contains(logs.String(), "certificate ready") {
		t.Errorf("no 'certificate ready' in the log")
	}

	// a plain site under the wildcard is served by it without an order of its own
	orders := peb.Orders()
	if err := m.Manage(context.Background(), []string{"plain.casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	got, err := site.handshake("plain.casket.test", peb.Roots)
	if err != nil {
		t.Fatalf("covered name not served at once: %v", err)
	}
	if got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("covered name served by another certificate")
	}
	time.Sleep(300 * time.Millisecond)
	if peb.Orders() != orders {
		t.Errorf("orders went from %d to %d for a covered name", orders, peb.Orders())
	}
}

func TestWildcardSubdirective(t *testing.T) {
	skipShort(t)
	site, peb, bind, m, _ := dnsSite(t)
	site.policy.Wildcard = true
	if err := m.Manage(context.Background(), []string{"a.casket.test", "b.casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	a := site.waitCert("a.casket.test", peb.Roots, 60*time.Second)
	b := site.waitCert("b.casket.test", peb.Roots, 5*time.Second)
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Errorf("a and b are served different certificates")
	}
	if len(a.DNSNames) != 1 || a.DNSNames[0] != "*.casket.test" {
		t.Errorf("certificate names %v, want [*.casket.test]", a.DNSNames)
	}
	if got := peb.Orders(); got != 1 {
		t.Errorf("pebble got %d orders, want 1", got)
	}
	waitNoTXT(t, bind.Addr)
}

// waitNoTXT checks that the challenge records are removed (clean-up runs right after validation).
func waitNoTXT(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := dnstest.TXT(t, addr, "_acme-challenge")
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("challenge TXT records left behind: %q", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDNSChallengePowerDNS(t *testing.T) {
	skipShort(t)
	pdns := dnstest.StartPowerDNS(t)
	site := newTestSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort, DNSServer: pdns.Addr})
	logs := new(logBuffer)
	m := site.start(peb, t.TempDir(), func(o *Options) { o.Logger = logs.logger() })
	m.lookupEnv = func(string) (string, bool) { return "", false }
	site.policy = &Policy{CA: peb.DirectoryURL, CARoot: peb.DirectoryRootFile, DNSProvider: "pdns",
		DNSOptions: map[string]string{"api_url": pdns.APIURL, "api_key": pdns.APIKey},
		DNS:        DNSSettings{Resolvers: []string{pdns.Addr}, TTL: 5 * time.Second, PropagationTimeout: -1}} // no propagation check
	if err := m.Manage(context.Background(), []string{"*.casket.test", "casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	leaf := site.waitCert("www.casket.test", peb.Roots, 60*time.Second)
	if err := leaf.VerifyHostname("www.casket.test"); err != nil {
		t.Error(err)
	}
	site.waitCert("casket.test", peb.Roots, 60*time.Second)
	if h, a := site.http01.Load(), site.tlsALPN01.Load(); h != 0 || a != 0 {
		t.Errorf("http-01 %d and tls-alpn-01 %d challenges answered; the DNS challenge must be exclusive", h, a)
	}
	waitNoTXT(t, pdns.Addr)
	if strings.Contains(logs.String(), pdns.APIKey) {
		t.Errorf("the PowerDNS API key appears in the log")
	}
	if t.Failed() {
		t.Logf("manager log:\n%s", logs.String())
	}
}

func TestDNSChallengeWrongSecretLogsNoSecret(t *testing.T) {
	skipShort(t)
	site, _, bind, m, logs := dnsSite(t)
	wrong := "d3JvbmctdHNpZy1zZWNyZXQtZm9yLWNhc2tldA=="
	m.lookupEnv = func(k string) (string, bool) {
		switch k {
		case "RFC2136_NAMESERVER":
			return bind.Addr, true
		case "RFC2136_TSIG_KEY":
			return bind.KeyName, true
		case "RFC2136_TSIG_SECRET":
			return wrong, true
		}
		return "", false
	}
	if err := m.Manage(context.Background(), []string{"*.casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "could not obtain certificate") {
		if time.Now().After(deadline) {
			t.Fatal("no failure logged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "rejected the TSIG signature") {
		t.Errorf("the failure does not say why")
	}
	if strings.Contains(logs.String(), wrong) {
		t.Errorf("the TSIG secret appears in the log")
	}
}

// TestDNSChallengeOverrideDomain follows a CNAME delegation: _acme-challenge.delegated.casket.test points
// to challenges.casket.test, where override_domain makes Casket put the record.
func TestDNSChallengeOverrideDomain(t *testing.T) {
	skipShort(t)
	site, peb, bind, m, _ := dnsSite(t)
	site.policy.DNS.OverrideDomain = "challenges.casket.test"
	if err := m.Manage(context.Background(), []string{"delegated.casket.test"}, site.policy); err != nil {
		t.Fatal(err)
	}
	leaf := site.waitCert("delegated.casket.test", peb.Roots, 60*time.Second)
	if err := leaf.VerifyHostname("delegated.casket.test"); err != nil {
		t.Error(err)
	}
	if left := dnstest.TXT(t, bind.Addr, "challenges"); len(left) != 0 {
		t.Errorf("delegated challenge record left behind: %q", left)
	}
}
