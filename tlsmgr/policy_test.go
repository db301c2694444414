package tlsmgr

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/internal/testutil"
)

// writePair writes a self-signed certificate and key for names into dir and returns their paths.
func writePair(t *testing.T, dir string, names ...string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := selfSignedPEM(names, 0)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestParsePolicy(t *testing.T) {
	t.Setenv("RFC2136_NAMESERVER", "127.0.0.1:53")
	t.Setenv("RFC2136_TSIG_KEY", "k")
	t.Setenv("RFC2136_TSIG_SECRET", "c2VjcmV0")
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a.casket.test")
	tests := []struct {
		name    string
		src     string
		want    *Policy
		wantErr string
	}{
		{name: "off", src: "tls off", want: &Policy{Off: true}},
		{name: "email", src: "tls ops@casket.test", want: &Policy{Email: "ops@casket.test"}},
		{name: "self signed", src: "tls self_signed", want: &Policy{SelfSigned: true}},
		{name: "manual pair", src: "tls " + cert + " " + key, want: &Policy{Manual: []CertFile{{cert, key}}}},
		{name: "repeated pairs", src: "tls " + cert + " " + key + "\ntls " + cert + " " + key,
			want: &Policy{Manual: []CertFile{{cert, key}, {cert, key}}}},
		{name: "block", src: `tls {
			ca https://127.0.0.1:14000/dir
			key_type RSA2048
			protocols tls1.2 tls1.3
			ciphers ECDHE-ECDSA-AES128-GCM-SHA256 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
			curves x25519 p256
			alpn http/1.1
			must_staple
			no_redirect
			wildcard
			ask http://localhost:9005/allowed
			max_certs 10
			insecure_disable_sni_matching
		}`, want: &Policy{CA: "https://127.0.0.1:14000/dir", KeyType: "rsa2048",
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
			Ciphers: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
			Curves:  []tls.CurveID{tls.X25519, tls.CurveP256}, ALPN: []string{"http/1.1"},
			MustStaple: true, NoRedirect: true, Wildcard: true, Ask: "http://localhost:9005/allowed", MaxCerts: 10,
			InsecureDisableSNIMatching: true}},
		{name: "email with block", src: "tls ops@casket.test {\n key_type ed25519\n}",
			want: &Policy{Email: "ops@casket.test", KeyType: "ed25519"}},
		{name: "dns with options", src: "tls {\n dns rfc2136 {\n  nameserver 127.0.0.1:53\n  tsig_key k\n  tsig_secret c2VjcmV0\n }\n}",
			want: &Policy{DNSProvider: "rfc2136", DNSOptions: map[string]string{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "c2VjcmV0"}}},
		{name: "dns bare", src: "tls {\n dns rfc2136\n}", want: &Policy{DNSProvider: "rfc2136"}}, // credentials from the environment (set below)
		{name: "load", src: "tls {\n load " + dir + "\n}", want: &Policy{LoadDirs: []string{dir}}},
		{name: "clients request no files", src: "tls {\n clients request\n}", want: &Policy{ClientAuth: tls.RequestClientCert, ClientCAFiles: []string{}}},
		{name: "ca_root", src: "tls {\n ca_root " + cert + "\n}", want: &Policy{CARoot: cert}},
		{name: "bare tls", src: "tls", wantErr: "expected an argument or a block"},
		{name: "not an email", src: "tls foo", wantErr: "not an email address"},
		{name: "three args", src: "tls a b c", wantErr: "wrong argument count"},
		{name: "missing cert", src: "tls /nope/c.pem /nope/k.pem", wantErr: "loading certificate"},
		{name: "off with block", src: "tls off {\n no_redirect\n}", wantErr: "cannot have a block"},
		{name: "unknown sub", src: "tls {\n frobnicate\n}", wantErr: `unknown subdirective "frobnicate"`},
		{name: "bad key type", src: "tls {\n key_type dsa\n}", wantErr: "unknown key type"},
		{name: "bad protocol", src: "tls {\n protocols ssl3\n}", wantErr: "unknown version"},
		{name: "min above max", src: "tls {\n protocols tls1.3 tls1.2\n}", wantErr: "above the maximum"},
		{name: "bad cipher", src: "tls {\n ciphers NULL-MD5\n}", wantErr: "unknown cipher suite"},
		{name: "bad curve", src: "tls {\n curves p224\n}", wantErr: "unknown curve"},
		{name: "clients without ca", src: "tls {\n clients\n}", wantErr: "at least one CA"},
		{name: "clients missing file", src: "tls {\n clients /nope.pem\n}", wantErr: "clients:"},
		{name: "bad ca url", src: "tls {\n ca ftp://x\n}", wantErr: "not an http(s) URL"},
		{name: "ca arg count", src: "tls {\n ca\n}", wantErr: "expected 1 argument"},
		{name: "bad max certs", src: "tls {\n max_certs -1\n}", wantErr: "not a positive number"},
		{name: "load missing dir", src: "tls {\n load /nope/dir\n}", wantErr: "not a readable folder"},
		{name: "must_staple args", src: "tls {\n must_staple yes\n}", wantErr: "expected 0 argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePolicy(testutil.Dispenser(t, tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "Casketfile:") || !strings.Contains(err.Error(), "tls: ") {
					t.Errorf("error %q lacks the Casketfile:line: tls: prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.ClientCAs = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePolicyClientCAs(t *testing.T) {
	cert, _ := writePair(t, t.TempDir(), "ca.casket.test")
	p, err := ParsePolicy(testutil.Dispenser(t, "tls {\n clients "+cert+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientAuth != tls.RequireAndVerifyClientCert || p.ClientCAs == nil {
		t.Errorf("ClientAuth = %v, ClientCAs = %v", p.ClientAuth, p.ClientCAs)
	}
	p, err = ParsePolicy(testutil.Dispenser(t, "tls {\n clients verify_if_given "+cert+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("ClientAuth = %v", p.ClientAuth)
	}
}
