package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/ocsp"
)

var update = flag.Bool("update", false, "rewrite the golden files of the -certs and -check tests")

// golden compares got with testdata/name, rewriting the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// fixtureCA is a throwaway certificate authority for building storage fixtures.
type fixtureCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newFixtureCA(t *testing.T) *fixtureCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Casket Test CA"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &fixtureCA{cert: cert, key: key}
}

// leaf issues a certificate for names valid from nb to na, as PEM.
func (ca *fixtureCA) leaf(t *testing.T, serial int64, nb, na time.Time, names ...string) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: nb, NotAfter: na}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// certStorageFixture builds a storage folder: a valid certificate with a good OCSP staple, one due for
// renewal with an issuance lock, an expired wildcard from another CA, and an unreadable one.
func certStorageFixture(t *testing.T) (dir string, stapleProduced time.Time) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	s := &certmagic.FileStorage{Path: dir}
	ca := newFixtureCA(t)
	put := func(key string, b []byte) {
		t.Helper()
		if err := s.Store(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	const le, pebble = "acme-v02.api.letsencrypt.org-directory", "localhost-14000-dir"

	a, aPEM := ca.leaf(t, 10, date(2026, 5, 1), date(2026, 7, 30), "a.example", "www.a.example")
	put("certificates/"+le+"/a.example/a.example.crt", aPEM)
	staple, err := ocsp.CreateResponse(ca.cert, ca.cert, ocsp.Response{
		Status: ocsp.Good, SerialNumber: a.SerialNumber,
		ThisUpdate: date(2026, 5, 30), NextUpdate: date(2026, 6, 6),
	}, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	put("ocsp/a.example-1a2b3c4d", staple)

	_, bPEM := ca.leaf(t, 11, date(2026, 3, 1), date(2026, 6, 10), "b.example", "192.0.2.7")
	put("certificates/"+le+"/b.example/b.example.crt", bPEM)
	put("locks/issue_cert_b.example.lock", []byte(`{"created":"2026-05-31T23:58:00Z","updated":"2026-05-31T23:59:30Z"}`))

	_, wPEM := ca.leaf(t, 12, date(2025, 1, 1), date(2025, 4, 1), "*.c.example")
	put("certificates/"+pebble+"/wildcard_.c.example/wildcard_.c.example.crt", wPEM)

	put("certificates/"+pebble+"/broken.example/broken.example.crt", []byte("not a certificate"))
	put("certificates/"+pebble+"/empty.example/empty.example.key", []byte("only a key"))
	return dir, time.Now()
}

func TestCertsGolden(t *testing.T) {
	dir, produced := certStorageFixture(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	infos, err := listCerts(context.Background(), &certmagic.FileStorage{Path: dir}, now)
	if err != nil {
		t.Fatal(err)
	}
	// The OCSP responder stamps its own clock on ProducedAt: check it, then pin it for the golden file.
	for i := range infos {
		if o := infos[i].OCSP; o != nil {
			if d := o.ProducedAt.Sub(produced); d < -2*time.Minute || d > 2*time.Minute {
				t.Errorf("%s: staple produced at %v, want about %v", infos[i].Name, o.ProducedAt, produced)
			}
			o.ProducedAt = time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
		}
	}
	var table, js bytes.Buffer
	if err := printCerts(&table, infos, false); err != nil {
		t.Fatal(err)
	}
	if err := printCerts(&js, infos, true); err != nil {
		t.Fatal(err)
	}
	golden(t, "certs.golden", table.Bytes())
	golden(t, "certs.json.golden", js.Bytes())
}

func TestCertsEmptyStorage(t *testing.T) {
	infos, err := listCerts(context.Background(), &certmagic.FileStorage{Path: t.TempDir()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var table, js bytes.Buffer
	_ = printCerts(&table, infos, false)
	_ = printCerts(&js, infos, true)
	if table.String() != "No certificates in storage.\n" || js.String() != "[]\n" {
		t.Errorf("empty storage: table %q, json %q", table.String(), js.String())
	}
}

func TestE2ECertsFlag(t *testing.T) {
	needBinary(t)
	dir, _ := certStorageFixture(t)
	code, stdout, stderr := runCasket(t, env{"CASKETPATH": dir}, "", "-certs", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !bytes.Contains([]byte(stdout), []byte(`"name": "a.example"`)) || !bytes.Contains([]byte(stdout), []byte(`"status": "good"`)) {
		t.Errorf("-certs --json output:\n%s", stdout)
	}
	code, stdout, _ = runCasket(t, env{"CASKETPATH": dir}, "", "-certs")
	if code != 0 || !bytes.Contains([]byte(stdout), []byte("NAME")) || !bytes.Contains([]byte(stdout), []byte("*.c.example")) {
		t.Errorf("-certs exit %d:\n%s", code, stdout)
	}
}

// inspectingStorage is a storage that knows who holds its locks, as a clustering backend may.
type inspectingStorage struct {
	certmagic.Storage
	holders map[string]string
}

func (s inspectingStorage) LockHolder(_ context.Context, name string) (string, time.Time, bool, error) {
	h, ok := s.holders[name]
	return h, time.Date(2026, 6, 1, 12, 0, 30, 0, time.UTC), ok, nil
}

func TestCertsLockHolder(t *testing.T) {
	dir, _ := certStorageFixture(t)
	s := inspectingStorage{Storage: &certmagic.FileStorage{Path: dir}, holders: map[string]string{"issue_cert_a.example": "node-7"}}
	infos, err := listCerts(context.Background(), s, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range infos {
		switch {
		case ci.Name == "a.example" && (ci.Lock == nil || ci.Lock.Holder != "node-7"):
			t.Errorf("a.example lock = %+v, want held by node-7", ci.Lock)
		case ci.Name != "a.example" && ci.Lock != nil:
			t.Errorf("%s lock = %+v, want none (the storage's own answer wins over lock files)", ci.Name, ci.Lock)
		}
	}
	var out bytes.Buffer
	_ = printCerts(&out, infos, false)
	if !bytes.Contains(out.Bytes(), []byte("held by node-7")) {
		t.Errorf("table:\n%s", out.String())
	}
}
