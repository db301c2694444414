package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/casketserver/casket/internal/acmetest"
)

const checkCasketfile = `a.example {
}
b.example {
}
c.example {
}
nxdomain.example {
}
*.wild.example {
	tls {
		dns cloudflare
	}
}
e.example {
	tls {
		ca http://127.0.0.1:1/directory
	}
}
`

// checkCA returns the URL of an ACME directory and the pool trusting it: Pebble, or under -short a
// stand-in serving a directory object (the report is the same).
func checkCA(t *testing.T) (string, func(*checker)) {
	t.Helper()
	if !testing.Short() {
		p := acmetest.Start(t, acmetest.Options{})
		return p.DirectoryURL, func(ck *checker) { ck.roots = p.DirectoryRoots }
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"newNonce":"https://ca/nonce","newAccount":"https://ca/acct","newOrder":"https://ca/order"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/dir", func(ck *checker) { ck.roots = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs }
}

func TestCheckGolden(t *testing.T) {
	caURL, trust := checkCA(t)
	t.Setenv("CLOUDFLARE_API_TOKEN", "token") // parsing the Casketfile checks credentials already
	hp, sp := freePort(t), freePort(t)
	busy, err := net.Listen("tcp", ":"+hp) // the HTTP port is taken
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	c, err := parseFlags([]string{"-http-port", hp, "-https-port", sp, "-ca", caURL, "-catimeout", "5s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := build(c, source{Name: "Casketfile", Body: []byte(checkCasketfile)}, zap.NewNop(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ck := newChecker(c)
	trust(ck)
	records := map[string][]net.IP{
		"a.example": {net.ParseIP("127.0.0.1")},
		"b.example": {net.ParseIP("203.0.113.5")},
		"c.example": {net.ParseIP("::1"), net.ParseIP("198.51.100.1")},
		"e.example": {net.ParseIP("127.0.0.1")},
	}
	ck.lookup = func(_ context.Context, host string) ([]net.IP, error) {
		if ips, ok := records[host]; ok {
			return ips, nil
		}
		return nil, errors.New("no such host")
	}
	ck.localAddrs = func() ([]net.IP, error) { return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, nil }
	ck.lookupEnv = func(k string) (string, bool) {
		if k == "CLOUDFLARE_API_TOKEN" {
			return "token", true
		}
		return "", false
	}

	results := ck.run(context.Background(), in)
	// The CA's URL and the ports change from run to run: name them before the table is laid out.
	r := strings.NewReplacer(caURL, "CA_URL", ":"+hp, ":HTTP_PORT", ":"+sp, ":HTTPS_PORT")
	for i := range results {
		results[i].Subject, results[i].Detail = r.Replace(results[i].Subject), r.Replace(results[i].Detail)
	}
	var out bytes.Buffer
	if failed := printChecks(&out, results); !failed {
		t.Error("printChecks reports no failure")
	}
	golden(t, "check.golden", out.Bytes())
}

func TestCheckAllOKExitsZero(t *testing.T) {
	caURL, trust := checkCA(t)
	hp, sp := freePort(t), freePort(t)
	c, err := parseFlags([]string{"-http-port", hp, "-https-port", sp, "-ca", caURL}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := build(c, source{Name: "Casketfile", Body: []byte("a.example\n")}, zap.NewNop(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ck := newChecker(c)
	trust(ck)
	ck.lookup = func(context.Context, string) ([]net.IP, error) { return []net.IP{net.ParseIP("127.0.0.1")}, nil }
	var out bytes.Buffer
	if code := runCheck(ck, in, &out); code != exitOK {
		t.Errorf("exit code %d, want 0:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "0 FAIL") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestE2ECheckFlag(t *testing.T) {
	needBinary(t)
	p := acmetest.Start(t, acmetest.Options{})
	hp, sp := freePort(t), freePort(t)
	conf := t.TempDir() + "/Casketfile"
	if err := os.WriteFile(conf, []byte("*.wild.example {\n\ttls {\n\t\tdns cloudflare\n\t}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-check", "-conf", conf, "-ca", p.DirectoryURL, "-http-port", hp, "-https-port", sp}
	e := env{"SSL_CERT_FILE": p.DirectoryRootFile, "CLOUDFLARE_API_TOKEN": "token"}
	code, stdout, stderr := runCasket(t, e, "", args...)
	if code != 0 || !strings.Contains(stdout, "ACME directory answers") || !strings.Contains(stdout, "0 FAIL") {
		t.Errorf("-check: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// Without credentials the Casketfile itself is rejected, before anything is checked.
	e["CLOUDFLARE_API_TOKEN"] = ""
	code, _, stderr = runCasket(t, e, "", args...)
	if code != 1 || !strings.Contains(stderr, "missing credentials") {
		t.Errorf("-check without credentials: exit %d\nstderr:\n%s", code, stderr)
	}
}
