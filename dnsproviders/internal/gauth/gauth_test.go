package gauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeGoogle is a token endpoint (JWT bearer and refresh token grants) and a metadata server.
type fakeGoogle struct {
	pub    *rsa.PublicKey
	issued atomic.Int32
}

func (f *fakeGoogle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		switch r.FormValue("grant_type") {
		case "urn:ietf:params:oauth:grant-type:jwt-bearer":
			parts := strings.Split(r.FormValue("assertion"), ".")
			if len(parts) != 3 {
				w.WriteHeader(400)
				return
			}
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			if rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, sum[:], sig) != nil {
				w.WriteHeader(400)
				fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
				return
			}
			var hdr map[string]string
			h, _ := base64.RawURLEncoding.DecodeString(parts[0])
			json.Unmarshal(h, &hdr)
			if hdr["alg"] != "RS256" || hdr["kid"] != "kid1" {
				w.WriteHeader(400)
				return
			}
		case "refresh_token":
			if r.FormValue("refresh_token") != "refresh-me" || r.FormValue("client_secret") != "cs" {
				w.WriteHeader(400)
				fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Bad Request"}`)
				return
			}
		default:
			w.WriteHeader(400)
			return
		}
	case "/computeMetadata/v1/instance/service-accounts/default/token":
		if r.Header.Get("Metadata-Flavor") != "Google" || !strings.Contains(r.URL.Query().Get("scopes"), "clouddns") {
			w.WriteHeader(403)
			return
		}
	default:
		w.WriteHeader(404)
		return
	}
	f.issued.Add(1)
	fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":3600,"token_type":"Bearer"}`, f.issued.Load())
}

func TestSources(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	f := &fakeGoogle{pub: &key.PublicKey}
	srv := httptest.NewServer(f)
	defer srv.Close()
	saJSON := func(k *rsa.PrivateKey) []byte {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		b, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "a@b", "private_key_id": "kid1",
			"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": srv.URL + "/token"})
		return b
	}
	pkcs1, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "a@b", "private_key_id": "kid1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})), "token_uri": srv.URL + "/token"})
	user := fmt.Sprintf(`{"type":"authorized_user","client_id":"ci","client_secret":"cs","refresh_token":"refresh-me","token_uri":%q}`, srv.URL+"/token")
	badUser := strings.Replace(user, "refresh-me", "stale", 1)
	dir := t.TempDir()
	adcFile := filepath.Join(dir, "adc.json")
	os.WriteFile(adcFile, []byte(user), 0o600)
	gcloud := filepath.Join(dir, "gcloud")
	os.MkdirAll(gcloud, 0o700)
	os.WriteFile(filepath.Join(gcloud, "application_default_credentials.json"), saJSON(key), 0o600)
	host := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		name       string
		json       []byte
		env        map[string]string // for Default when json is nil
		kind       string
		wantErr    string
		wantTokErr string
	}{
		{name: "service account", json: saJSON(key), kind: "service_account"},
		{name: "service account PKCS1", json: pkcs1, kind: "service_account"},
		{name: "wrong key", json: saJSON(other), wantTokErr: "Invalid JWT Signature"},
		{name: "user", json: []byte(user), kind: "authorized_user"},
		{name: "stale user", json: []byte(badUser), wantTokErr: "invalid_grant"},
		{name: "external account", json: []byte(`{"type":"external_account"}`), wantErr: `"external_account" are not supported`},
		{name: "not json", json: []byte(`nope`), wantErr: "not JSON"},
		{name: "ADC file", env: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": adcFile}, kind: "authorized_user"},
		{name: "ADC missing file", env: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": adcFile + ".gone"}, wantErr: "reading GOOGLE_APPLICATION_CREDENTIALS"},
		{name: "gcloud file", env: map[string]string{"CLOUDSDK_CONFIG": gcloud}, kind: "service_account"},
		{name: "metadata", env: map[string]string{"HOME": dir, "GCE_METADATA_HOST": host}, kind: "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *Source
			var err error
			if tt.json != nil {
				s, err = FromJSON(tt.json, "https://www.googleapis.com/auth/ndev.clouddns.readwrite")
			} else {
				s, err = Default(func(k string) string { return tt.env[k] }, "https://www.googleapis.com/auth/ndev.clouddns.readwrite")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			before := f.issued.Load()
			tok, err := s.Token(context.Background())
			if tt.wantTokErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantTokErr) || strings.Contains(err.Error(), "PRIVATE") || strings.Contains(err.Error(), "cs") && strings.Contains(err.Error(), "client_secret") {
					t.Fatalf("token err = %v, want %q", err, tt.wantTokErr)
				}
				return
			}
			if err != nil || !strings.HasPrefix(tok, "tok-") || s.Kind != tt.kind {
				t.Fatalf("token %q (%s), %v", tok, s.Kind, err)
			}
			again, err := s.Token(context.Background())
			if err != nil || again != tok || f.issued.Load() != before+1 {
				t.Errorf("token not cached: %q then %q, %d issued", tok, again, f.issued.Load()-before)
			}
		})
	}
}
