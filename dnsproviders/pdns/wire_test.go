package pdns

import (
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/casketserver/casket/dnsproviders/internal/recs/wiretest"
	"github.com/casketserver/casket/internal/dnstest"
)

// TestWire pins the requests sent to a real PowerDNS (testdata/wire.golden).
func TestWire(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PowerDNS")
	}
	srv := dnstest.StartPowerDNS(t)
	target, err := url.Parse(srv.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	rec := wiretest.NewRecorder(t, httputil.NewSingleHostReverseProxy(target))
	p := &Provider{APIURL: rec.URL, APIKey: srv.APIKey, ServerID: srv.ServerID}
	got := rec.Run(t, p, dnstest.Zone+".", wiretest.Scenario("ns"))
	wiretest.Golden(t, "testdata/wire.golden", got)
	t.Run("append existing", func(t *testing.T) { wiretest.AppendExisting(t, p, dnstest.Zone) })
}
