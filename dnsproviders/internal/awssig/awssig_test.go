package awssig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestMatchesSDK signs requests with Sign and with the SDK's signer and compares the Authorization headers.
func TestMatchesSDK(t *testing.T) {
	when := time.Date(2026, 11, 30, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, method, url, body string
		hdr                     map[string]string
		keys                    Keys
	}{
		{name: "get with query", method: "GET", url: "https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/rrset?" + Query("name", "*.casket.test.", "type", "TXT"),
			keys: Keys{AccessKeyID: "AKID", SecretAccessKey: "secret"}},
		{name: "json post with token", method: "POST", url: "http://127.0.0.1:8080/", body: `{"domainName":"casket.test"}`,
			hdr:  map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Lightsail_20161128.GetDomain"},
			keys: Keys{AccessKeyID: "AKID", SecretAccessKey: "secret", SessionToken: "tok"}},
		{name: "spaces and escapes", method: "GET", url: "https://example.amazonaws.com/a%20b/c?z=1&a=x%20y&a=b",
			keys: Keys{AccessKeyID: "AKID", SecretAccessKey: "s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mine, _ := http.NewRequest(tt.method, tt.url, bytes.NewReader([]byte(tt.body)))
			sdk, _ := http.NewRequest(tt.method, tt.url, bytes.NewReader([]byte(tt.body)))
			for k, v := range tt.hdr {
				mine.Header.Set(k, v)
				sdk.Header.Set(k, v)
			}
			mine.URL.RawQuery = CanonicalQuery(mine.URL.RawQuery)
			Sign(mine, []byte(tt.body), tt.keys, "route53", "us-east-1", when)
			sum := sha256.Sum256([]byte(tt.body))
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: tt.keys.AccessKeyID,
				SecretAccessKey: tt.keys.SecretAccessKey, SessionToken: tt.keys.SessionToken}, sdk, hex.EncodeToString(sum[:]), "route53", "us-east-1", when)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := mine.Header.Get("Authorization"), sdk.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	if got, want := Query("type", "A", "name", "*.a b.", "x", ""), "name=%2A.a%20b.&type=A&x="; got != want {
		t.Errorf("Query = %q, want %q", got, want)
	}
}
