// Package awsconf reads AWS credentials for the route53 and lightsail providers and loads an SDK
// configuration from them.
package awsconf

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
)

// Credentials are static keys, or a profile, or neither (the SDK's default chain).
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Profile                                    string
	Region                                     string
	MaxRetries                                 int // AWS_MAX_RETRIES; 0 means the SDK's default
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

// Load builds the SDK configuration; provider names the caller in errors.
func (c Credentials) Load(ctx context.Context, provider string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(c.Region)}
	if c.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	} else if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.MaxRetries > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(c.MaxRetries+1))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("%s: loading AWS configuration: %w", provider, err)
	}
	return cfg, nil
}
