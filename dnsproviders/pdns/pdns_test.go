package pdns

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/httpapi"
	"github.com/casketserver/casket/internal/dnstest"
	"github.com/libdns/libdns"
)

func TestNew(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	_, err := New(dnsconf.Config{Provider: "pdns", LookupEnv: none})
	if err == nil || !strings.Contains(err.Error(), "PDNS_API_URL") || !strings.Contains(err.Error(), "PDNS_API_KEY") {
		t.Fatalf("err = %v", err)
	}
	_, err = New(dnsconf.Config{Provider: "pdns", LookupEnv: none, Options: map[string]string{"api_url": "ftp://x", "api_key": "hunter2"}})
	if err == nil || !strings.Contains(err.Error(), "PDNS_API_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
	p, err := New(dnsconf.Config{Provider: "pdns", LookupEnv: none, Options: map[string]string{"api_url": "http://127.0.0.1:8081/api/v1", "api_key": "k"}})
	if err != nil || p.ServerID != "localhost" {
		t.Fatalf("p = %+v, err = %v", p, err)
	}
}

// TestPowerDNS runs against a real PowerDNS 4.x (API v1).
func TestPowerDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PowerDNS")
	}
	srv := dnstest.StartPowerDNS(t)
	p := &Provider{APIURL: srv.APIURL, APIKey: srv.APIKey, ServerID: srv.ServerID}
	conformance.Run(t, p, dnstest.Zone+".", conformance.Options{
		Lookup: func(fqdn string) []string { return dnstest.TXT(t, srv.Addr, fqdn) },
	})
	ctx := context.Background()
	t.Run("wrong key", func(t *testing.T) {
		bad := &Provider{APIURL: srv.APIURL, APIKey: "wrong-key-123", ServerID: srv.ServerID}
		_, err := bad.AppendRecords(ctx, dnstest.Zone, []libdns.Record{libdns.TXT{Name: "x", TTL: time.Minute, Text: "v"}})
		var se *httpapi.StatusError
		if !errors.As(err, &se) || se.Status != 401 || strings.Contains(err.Error(), "wrong-key-123") {
			t.Errorf("err = %v, want a 401 without the key", err)
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		_, err := p.GetRecords(ctx, "nope.test.")
		var se *httpapi.StatusError
		if !errors.As(err, &se) || se.Status != 404 {
			t.Errorf("err = %v, want 404", err)
		}
	})
}
