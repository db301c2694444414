package dnsproviders

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/libdns/libdns"
)

func TestNames(t *testing.T) {
	want := []string{"auroradns", "cloudflare", "digitalocean", "gandi", "gandiv5", "googlecloud", "lightsail", "otc", "pdns", "rfc2136", "route53"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if _, ok := Lookup("nosuch"); ok {
		t.Error("Lookup found an unknown provider")
	}
}

// TestMissingCredentials checks that every provider with required settings reports them by variable name
// (X and X_FILE) under its own name.
func TestMissingCredentials(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	tests := []struct {
		name string
		want []string
	}{
		{"auroradns", []string{"AURORA_USER_ID", "AURORA_KEY"}},
		{"cloudflare", []string{"CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN"}},
		{"digitalocean", []string{"DO_AUTH_TOKEN"}},
		{"gandi", []string{"GANDI_API_KEY", "GANDI_PERSONAL_ACCESS_TOKEN"}},
		{"gandiv5", []string{"GANDIV5_API_KEY", "GANDIV5_PERSONAL_ACCESS_TOKEN"}},
		{"googlecloud", []string{"GCE_PROJECT"}},
		{"otc", []string{"OTC_DOMAIN_NAME", "OTC_USER_NAME", "OTC_PASSWORD", "OTC_PROJECT_NAME"}},
		{"pdns", []string{"PDNS_API_URL", "PDNS_API_KEY"}},
		{"rfc2136", []string{"RFC2136_NAMESERVER", "RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctor, ok := Lookup(tc.name)
			if !ok {
				t.Fatal("not registered")
			}
			_, err := ctor(dnsconf.Config{Provider: tc.name, LookupEnv: none})
			if err == nil {
				t.Fatal("no error without credentials")
			}
			if !strings.HasPrefix(err.Error(), "dns "+tc.name+": ") {
				t.Errorf("error %q does not start with the provider", err)
			}
			for _, v := range tc.want {
				if !strings.Contains(err.Error(), v) || !strings.Contains(err.Error(), v+"_FILE") {
					t.Errorf("error %q does not name %s and %s_FILE", err, v, v)
				}
			}
		})
	}
	// AWS providers fall back to the SDK's credential chain, but half a key pair is an error
	for _, name := range []string{"route53", "lightsail"} {
		ctor, _ := Lookup(name)
		_, err := ctor(dnsconf.Config{Provider: name, LookupEnv: func(k string) (string, bool) { return "AKIDHALF", k == "AWS_ACCESS_KEY_ID" }})
		if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") || strings.Contains(err.Error(), "AKIDHALF") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestSecretsNeverInErrors gives every provider credentials with one malformed setting and checks that no
// secret value is echoed.
func TestSecretsNeverInErrors(t *testing.T) {
	secret := "S3CRET-VALUE-do-not-print"
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte(secret+"\n"), 0o600)
	for _, name := range Names() {
		ctor, _ := Lookup(name)
		env := func(k string) (string, bool) {
			switch {
			case strings.HasSuffix(k, "_FILE"):
				return "", false
			case strings.Contains(k, "ENDPOINT") || strings.Contains(k, "URL"):
				return "::not a url " + secret, true
			case strings.Contains(k, "ALGORITHM"), strings.Contains(k, "WAIT"), strings.Contains(k, "RETRIES"):
				return "bogus-" + secret, true
			}
			return secret, true
		}
		_, err := ctor(dnsconf.Config{Provider: name, LookupEnv: env, Options: map[string]string{"unknown_option": secret}})
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error leaks a secret: %v", name, err)
		}
	}
}

func TestProvidersImplementLibdns(t *testing.T) {
	env := func(k string) (string, bool) {
		switch k {
		case "PDNS_API_URL", "AURORA_ENDPOINT":
			return "http://127.0.0.1:1", true
		case "OTC_IDENTITY_ENDPOINT":
			return "http://127.0.0.1:1/v3/auth/tokens", true
		case "GCE_SERVICE_ACCOUNT", "GCE_SERVICE_ACCOUNT_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "RFC2136_TSIG_ALGORITHM",
			"AWS_PROFILE", "AWS_REGION", "AWS_MAX_RETRIES", "AWS_HOSTED_ZONE_ID", "AWS_ENDPOINT_URL_ROUTE_53", "AWS_ENDPOINT_URL_LIGHTSAIL", "AWS_WAIT_FOR_SYNC", "DNS_ZONE":
			return "", false
		}
		return "c2VjcmV0", !strings.HasSuffix(k, "_FILE")
	}
	for _, name := range Names() {
		ctor, _ := Lookup(name)
		p, err := ctor(dnsconf.Config{Provider: name, LookupEnv: env})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, ok := p.(libdns.RecordGetter); !ok {
			t.Errorf("%s does not implement RecordGetter", name)
		}
	}
}
