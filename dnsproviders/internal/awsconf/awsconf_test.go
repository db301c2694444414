package awsconf

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/internal/awstest"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	home := t.TempDir()
	write(t, filepath.Join(home, ".aws", "credentials"), "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s-default\n\n[other]\n# comment\naws_access_key_id=AKOTHER\naws_secret_access_key=s-other\naws_session_token=tok\n")
	write(t, filepath.Join(home, ".aws", "config"), "[profile cfg]\nregion = eu-west-1\naws_access_key_id = AKCFG\naws_secret_access_key = s-cfg\n")
	tokenFile := filepath.Join(home, "token")
	write(t, tokenFile, "jwt-token\n")

	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut && r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "":
			io.WriteString(w, "imds-token")
		case strings.HasPrefix(r.URL.Path, "/latest/meta-data/") && r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-token":
			w.WriteHeader(401)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "casket-role\n")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/casket-role":
			fmt.Fprintf(w, `{"Code":"Success","AccessKeyId":"AKIMDS","SecretAccessKey":"s-imds","Token":"t-imds","Expiration":%q}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		case r.URL.Path == "/ecs/creds":
			if r.Header.Get("Authorization") != "ecs-auth" {
				w.WriteHeader(403)
				return
			}
			io.WriteString(w, `{"AccessKeyId":"AKECS","SecretAccessKey":"s-ecs","Token":"t-ecs"}`)
		case r.URL.Path == "/sts/" && r.Method == http.MethodPost:
			if r.FormValue("Action") != "AssumeRoleWithWebIdentity" || r.FormValue("WebIdentityToken") != "jwt-token" || r.FormValue("RoleArn") != "arn:aws:iam::1:role/r" {
				w.WriteHeader(400)
				io.WriteString(w, `<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad</Message></Error></ErrorResponse>`)
				return
			}
			io.WriteString(w, `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>AKWEB</AccessKeyId><SecretAccessKey>s-web</SecretAccessKey><SessionToken>t-web</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`)
		default:
			w.WriteHeader(404)
		}
	}))
	defer meta.Close()

	tests := []struct {
		name    string
		creds   Credentials
		env     map[string]string
		want    string // access key id
		wantErr string
	}{
		{name: "static", creds: Credentials{AccessKeyID: "AKSTATIC", SecretAccessKey: "x"}, want: "AKSTATIC"},
		{name: "default profile", env: map[string]string{"HOME": home}, want: "AKDEFAULT"},
		{name: "named profile", creds: Credentials{Profile: "other"}, env: map[string]string{"HOME": home}, want: "AKOTHER"},
		{name: "profile in config", creds: Credentials{Profile: "cfg"}, env: map[string]string{"HOME": home}, want: "AKCFG"},
		{name: "missing profile", creds: Credentials{Profile: "nope"}, env: map[string]string{"HOME": home}, wantErr: `profile "nope" not found`},
		{name: "credentials file variable", creds: Credentials{Profile: "other"},
			env: map[string]string{"HOME": t.TempDir(), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, ".aws", "credentials")}, want: "AKOTHER"},
		{name: "web identity", env: map[string]string{"HOME": t.TempDir(), "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
			"AWS_ROLE_ARN": "arn:aws:iam::1:role/r", "AWS_ENDPOINT_URL_STS": meta.URL + "/sts"}, want: "AKWEB"},
		{name: "web identity refused", env: map[string]string{"HOME": t.TempDir(), "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
			"AWS_ROLE_ARN": "arn:aws:iam::1:role/other", "AWS_ENDPOINT_URL_STS": meta.URL + "/sts"}, wantErr: "InvalidIdentityToken"},
		{name: "container", env: map[string]string{"HOME": t.TempDir(), "AWS_CONTAINER_CREDENTIALS_FULL_URI": meta.URL + "/ecs/creds",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-auth"}, want: "AKECS"},
		{name: "container relative", env: map[string]string{"HOME": t.TempDir(), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/ecs/creds",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-auth"}, want: "AKECS"},
		{name: "instance role", env: map[string]string{"HOME": t.TempDir()}, want: "AKIMDS"},
		{name: "nothing", env: map[string]string{"HOME": t.TempDir(), "AWS_EC2_METADATA_DISABLED": "true"}, wantErr: "no AWS credentials found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &resolver{creds: tt.creds, getenv: envOf(tt.env), imdsURL: meta.URL, containerHost: meta.URL}
			got, err := r.resolve(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s-") || strings.Contains(err.Error(), "jwt-token") {
					t.Errorf("secret in error: %v", err)
				}
				return
			}
			if err != nil || got.AccessKeyID != tt.want || got.SecretAccessKey == "" {
				t.Fatalf("got %+v, %v; want %s", got.Keys.AccessKeyID, err, tt.want)
			}
		})
	}
}

// TestClient checks signing (with the SDK's verifier), retries of throttling and 5xx, no retry of other
// errors, credential caching and error texts without secrets.
func TestClient(t *testing.T) {
	var calls, fails atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if err := awstest.VerifySigV4(r, body, "AKID", "top-secret", "route53", "us-east-1"); err != nil {
			w.WriteHeader(403)
			fmt.Fprintf(w, `<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error></ErrorResponse>`, err)
			return
		}
		if r.Header.Get("X-Amz-Security-Token") != "sess" {
			w.WriteHeader(400)
			return
		}
		switch r.URL.Path {
		case "/throttle":
			if fails.Add(1) <= 2 {
				w.WriteHeader(400)
				io.WriteString(w, `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`)
				return
			}
		case "/json500":
			w.WriteHeader(500)
			io.WriteString(w, `{"__type":"com.amazon#InternalFailure","message":"boom"}`)
			return
		case "/batch":
			w.WriteHeader(400)
			io.WriteString(w, `<?xml version="1.0"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>Tried to delete resource record set but it was not found</Message></Messages></InvalidChangeBatch>`)
			return
		case "/bad":
			w.WriteHeader(400)
			io.WriteString(w, `{"__type":"InvalidInputException","message":"nope"}`)
			return
		}
		io.WriteString(w, "ok:"+r.URL.RawQuery)
	}))
	defer srv.Close()
	c := &Client{Provider: "route53", Service: "route53", Region: "us-east-1", Endpoint: srv.URL, MinWait: time.Millisecond,
		Creds: Credentials{AccessKeyID: "AKID", SecretAccessKey: "top-secret", SessionToken: "sess"}}
	ctx := context.Background()
	data, err := c.Do(ctx, "Op", http.MethodGet, "/throttle?b=2&a=%2A%20x", nil, nil)
	if err != nil || string(data) != "ok:a=%2A%20x&b=2" || calls.Load() != 3 {
		t.Fatalf("throttle: %q, %v after %d calls", data, err, calls.Load())
	}
	calls.Store(0)
	_, err = c.Do(ctx, "Op", http.MethodPost, "/json500", http.Header{"Content-Type": {"application/x-amz-json-1.1"}}, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "api error InternalFailure: boom") || calls.Load() != 3 {
		t.Errorf("5xx: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	_, err = c.Do(ctx, "Op", http.MethodPost, "/bad", nil, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "Op: HTTP 400: api error InvalidInputException: nope") || calls.Load() != 1 {
		t.Errorf("400: %v after %d calls", err, calls.Load())
	}
	_, err = c.Do(ctx, "Op", http.MethodPost, "/batch", nil, []byte(`<x/>`))
	if err == nil || !strings.Contains(err.Error(), "api error InvalidChangeBatch: Tried to delete") {
		t.Errorf("InvalidChangeBatch: %v", err)
	}
	bad := &Client{Provider: "route53", Service: "route53", Region: "us-east-1", Endpoint: srv.URL,
		Creds: Credentials{AccessKeyID: "AKID", SecretAccessKey: "wrong-secret"}}
	_, err = bad.Do(ctx, "Op", http.MethodGet, "/", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("bad signature: %v", err)
	}
}
