// Package awsconf reads AWS credentials for the route53 and lightsail providers, resolves them the way
// the AWS tools do (static keys, a profile of the shared files, a web identity token, a container or
// instance role) and sends SigV4-signed requests with retries (client.go).
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/awssig"
)

// Credentials are static keys, or a profile, or neither (the default chain).
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Profile                                    string
	Region                                     string
	MaxRetries                                 int // AWS_MAX_RETRIES; 0 means the default (2)
}

// Read takes AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION and
// AWS_MAX_RETRIES (each also as _FILE, or as a block option) and records a half-given key pair as missing.
func Read(r *dnsconf.Reader, defaultRegion string) Credentials {
	c := Credentials{
		AccessKeyID:     r.Optional("access_key_id", "", "AWS_ACCESS_KEY_ID"),
		SecretAccessKey: r.Optional("secret_access_key", "", "AWS_SECRET_ACCESS_KEY"),
		SessionToken:    r.Optional("session_token", "", "AWS_SESSION_TOKEN"),
		Profile:         r.Optional("profile", "", "AWS_PROFILE"),
		Region:          r.Optional("region", defaultRegion, "AWS_REGION"),
	}
	if n := r.Optional("max_retries", "", "AWS_MAX_RETRIES"); n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			r.Invalid("AWS_MAX_RETRIES", "expected a number of retries such as 5")
		}
		c.MaxRetries = v
	}
	if c.AccessKeyID != "" && c.SecretAccessKey == "" {
		r.Required("secret_access_key", "AWS_SECRET_ACCESS_KEY")
	}
	if c.AccessKeyID == "" && c.SecretAccessKey != "" {
		r.Required("access_key_id", "AWS_ACCESS_KEY_ID")
	}
	return c
}

// temporary are keys with an expiry (zero: they do not expire).
type temporary struct {
	awssig.Keys
	Expires time.Time
}

// errNotFound means a source of the chain has nothing to offer; the next one is tried.
var errNotFound = errors.New("not found")

// resolver finds credentials; env and home are injectable for tests.
type resolver struct {
	creds  Credentials
	http   *http.Client
	getenv func(string) string
	// imdsURL and containerHost replace the link-local metadata endpoints (tests).
	imdsURL, containerHost string
}

// resolve walks the chain: static keys, the profile, a web identity token, a container role and the
// instance role. Errors never contain secrets.
func (r *resolver) resolve(ctx context.Context) (temporary, error) {
	c := r.creds
	if c.AccessKeyID != "" {
		return temporary{Keys: awssig.Keys{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}}, nil
	}
	t, err := r.profile(ctx)
	if !errors.Is(err, errNotFound) {
		return t, err
	}
	if c.Profile != "" {
		return temporary{}, fmt.Errorf("profile %q not found in the shared credentials or config file", c.Profile)
	}
	for _, src := range []func(context.Context) (temporary, error){r.webIdentity, r.container, r.instance} {
		t, err := src(ctx)
		if !errors.Is(err, errNotFound) {
			return t, err
		}
	}
	return temporary{}, errors.New("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with a container or instance role")
}

func (r *resolver) env(k string) string {
	if r.getenv != nil {
		return r.getenv(k)
	}
	return os.Getenv(k)
}

func (r *resolver) client() *http.Client {
	if r.http != nil {
		return r.http
	}
	return &http.Client{Timeout: 30 * time.Second}
}
