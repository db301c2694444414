// Package awstest checks AWS Signature Version 4 on requests received by fake AWS servers in tests, by
// signing the same request again with the SDK's own signer and the known key.
package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// VerifySigV4 reports whether r (whose body was read into body) carries a valid signature by keyID and
// secret for service in region.
func VerifySigV4(r *http.Request, body []byte, keyID, secret, service, region string) error {
	auth := r.Header.Get("Authorization")
	scope := fmt.Sprintf("/%s/%s/aws4_request", region, service)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+keyID+"/") || !strings.Contains(auth, scope) {
		return fmt.Errorf("unknown credential or scope in %q", strings.SplitN(auth, ",", 2)[0])
	}
	var signed []string
	for _, part := range strings.Split(auth, ", ") {
		if v, ok := strings.CutPrefix(part, "SignedHeaders="); ok {
			signed = strings.Split(v, ";")
		}
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != hash {
		return fmt.Errorf("payload hash mismatch")
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date")
	}
	if d := time.Since(when); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("request time too skewed")
	}
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	again.Header = http.Header{}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = int64(len(body))
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		again, hash, service, region, when); err != nil {
		return err
	}
	if again.Header.Get("Authorization") != auth {
		return fmt.Errorf("signature does not match")
	}
	return nil
}
