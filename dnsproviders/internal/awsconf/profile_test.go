package awsconf

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casketserver/casket/dnsproviders/internal/awstest"
)

// TestProfiles covers role_arn with source_profile (STS AssumeRole signed by the source keys, checked with
// the SDK's signer), credential_process and unsupported SSO profiles.
func TestProfiles(t *testing.T) {
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := awstest.VerifySigV4(r, body, "AKSRC", "s-src", "sts", "us-east-1"); err != nil {
			w.WriteHeader(403)
			io.WriteString(w, `<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error></ErrorResponse>`)
			return
		}
		form, _ := url.ParseQuery(string(body))
		if form.Get("Action") != "AssumeRole" || form.Get("RoleArn") != "arn:aws:iam::1:role/dns" || form.Get("ExternalId") != "ext" {
			w.WriteHeader(400)
			io.WriteString(w, `<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>`)
			return
		}
		io.WriteString(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>AKROLE</AccessKeyId><SecretAccessKey>s-role</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`)
	}))
	defer sts.Close()
	home := t.TempDir()
	write(t, filepath.Join(home, ".aws", "credentials"), "[src]\naws_access_key_id = AKSRC\naws_secret_access_key = s-src\n")
	write(t, filepath.Join(home, ".aws", "config"), `[profile role]
role_arn = arn:aws:iam::1:role/dns
source_profile = src
external_id = ext

[profile denied]
role_arn = arn:aws:iam::1:role/other
source_profile = src

[profile loop]
role_arn = arn:aws:iam::1:role/dns
source_profile = loop

[profile proc]
credential_process = echo '{"Version": 1, "AccessKeyId": "AKPROC", "SecretAccessKey": "s-proc", "SessionToken": "t"}'

[profile badproc]
credential_process = echo not-json

[profile sso]
sso_session = corp
`)
	tests := []struct {
		profile, want, wantErr string
	}{
		{profile: "role", want: "AKROLE"},
		{profile: "denied", wantErr: "AccessDenied"},
		{profile: "loop", wantErr: "circular"},
		{profile: "proc", want: "AKPROC"},
		{profile: "badproc", wantErr: "did not print JSON"},
		{profile: "sso", wantErr: "SSO profiles are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			r := &resolver{creds: Credentials{Profile: tt.profile}, getenv: envOf(map[string]string{"HOME": home, "AWS_ENDPOINT_URL_STS": sts.URL})}
			got, err := r.resolve(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s-src") {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.AccessKeyID != tt.want || got.SessionToken != "t" {
				t.Fatalf("got %s, %v; want %s", got.AccessKeyID, err, tt.want)
			}
		})
	}
}
