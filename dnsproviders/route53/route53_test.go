package route53

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/awsconf"
	"github.com/libdns/libdns"
)

func testProvider(f *fakeRoute53, url string) *Provider {
	return &Provider{Credentials: awsconf.Credentials{AccessKeyID: f.keyID, SecretAccessKey: f.secret, Region: "us-east-1"}, Endpoint: url,
		WaitForSync: true, minWait: 10 * time.Millisecond}
}

func TestNew(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDONLY"}
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := New(dnsconf.Config{Provider: "route53", LookupEnv: look})
	if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") || strings.Contains(err.Error(), "AKIDONLY") {
		t.Fatalf("err = %v", err)
	}
	env["AWS_SECRET_ACCESS_KEY"] = "s3cr3t"
	p, err := New(dnsconf.Config{Provider: "route53", LookupEnv: look})
	if err != nil || p.Region != "us-east-1" || !p.WaitForSync {
		t.Fatalf("p = %+v, err = %v", p, err)
	}
}

// TestFakeRoute53 runs the conformance test against a server following Route 53 API 2013-04-01.
func TestFakeRoute53(t *testing.T) {
	f, srv := newFakeRoute53(t)
	p := testProvider(f, srv.URL)
	conformance.Run(t, p, "casket.test.", conformance.Options{
		Lookup: func(fqdn string) []string { return f.txt("Z1PUBLIC", fqdn) },
	})
	if f.throttleFirst {
		t.Error("the throttled change was never retried")
	}
	if got := f.txt("Z0PRIVATE", "x.casket.test."); len(got) != 0 {
		t.Error("the private zone was changed")
	}

	ctx := context.Background()
	t.Run("wildcard names unescaped", func(t *testing.T) {
		all, err := p.GetRecords(ctx, "casket.test")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range all {
			if r.RR().Name == "*" && r.RR().Type == "A" {
				found = true
			}
		}
		if !found || len(all) != 6 {
			t.Errorf("GetRecords = %v", all)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad := testProvider(f, srv.URL)
		bad.SecretAccessKey = "not-the-secret"
		_, err := bad.GetRecords(ctx, "casket.test")
		if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") || strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		_, err := p.AppendRecords(ctx, "nope.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "no hosted zone named nope.test") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("hosted zone id given but gone", func(t *testing.T) {
		q := testProvider(f, srv.URL)
		q.HostedZoneID = "ZGONE"
		_, err := q.GetRecords(ctx, "casket.test")
		if err == nil || !strings.Contains(err.Error(), "NoSuchHostedZone") {
			t.Errorf("err = %v", err)
		}
	})
}
