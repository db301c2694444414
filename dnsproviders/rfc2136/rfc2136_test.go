package rfc2136

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/internal/dnstest"
	"github.com/libdns/libdns"
)

func TestNew(t *testing.T) {
	env := map[string]string{}
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := New(dnsconf.Config{Provider: "rfc2136", LookupEnv: look})
	if err == nil {
		t.Fatal("no error without settings")
	}
	for _, want := range []string{"dns rfc2136", "RFC2136_NAMESERVER", "RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	env["RFC2136_NAMESERVER"], env["RFC2136_TSIG_KEY"], env["RFC2136_TSIG_SECRET"] = "127.0.0.1", "k", "c2VjcmV0"
	p, err := New(dnsconf.Config{Provider: "rfc2136", LookupEnv: look})
	if err != nil {
		t.Fatal(err)
	}
	if p.server() != "127.0.0.1:53" || p.Algorithm != "hmac-sha256" {
		t.Errorf("got %+v", p)
	}
	env["RFC2136_TSIG_ALGORITHM"] = "md5-ish"
	if _, err := New(dnsconf.Config{Provider: "rfc2136", LookupEnv: look}); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("bad algorithm: %v", err)
	}
}

func TestBIND(t *testing.T) {
	if testing.Short() {
		t.Skip("starts BIND")
	}
	b := dnstest.StartBIND(t)
	p := &Provider{Nameserver: b.Addr, KeyName: b.KeyName, Secret: b.Secret, Algorithm: b.Algorithm}
	conformance.Run(t, p, dnstest.Zone+".", conformance.Options{
		Lookup: func(fqdn string) []string { return dnstest.TXT(t, b.Addr, fqdn) },
	})

	t.Run("wrong key refused", func(t *testing.T) {
		bad := &Provider{Nameserver: b.Addr, KeyName: b.KeyName, Secret: "d3Jvbmcgc2VjcmV0IGZvciB0ZXN0", Algorithm: b.Algorithm}
		_, err := bad.AppendRecords(context.Background(), dnstest.Zone, []libdns.Record{libdns.TXT{Name: "x", TTL: time.Minute, Text: "v"}})
		if err == nil {
			t.Fatal("update with a wrong secret accepted")
		}
		if strings.Contains(err.Error(), bad.Secret) {
			t.Errorf("error leaks the secret: %v", err)
		}
		if got := dnstest.TXT(t, b.Addr, "x"); len(got) != 0 {
			t.Errorf("record created: %q", got)
		}
	})
	t.Run("A records not allowed by policy", func(t *testing.T) {
		_, err := p.AppendRecords(context.Background(), dnstest.Zone, []libdns.Record{libdns.RR{Name: "y", TTL: time.Minute, Type: "A", Data: "10.0.0.1"}})
		if err == nil || !strings.Contains(err.Error(), "REFUSED") {
			t.Errorf("got %v, want REFUSED", err)
		}
	})
}

// TestPowerDNS checks interoperability with PowerDNS's RFC 2136 support (TSIG-ALLOW-DNSUPDATE).
func TestPowerDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PowerDNS")
	}
	srv := dnstest.StartPowerDNS(t)
	p := &Provider{Nameserver: srv.Addr, KeyName: srv.KeyName, Secret: srv.Secret, Algorithm: "hmac-sha256"}
	conformance.Run(t, p, dnstest.Zone+".", conformance.Options{
		Lookup: func(fqdn string) []string { return dnstest.TXT(t, srv.Addr, fqdn) },
	})
}
