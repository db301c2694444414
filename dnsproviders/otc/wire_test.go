package otc

import (
	"testing"

	"github.com/casketserver/casket/dnsproviders/internal/recs/wiretest"
)

// TestWire pins the requests sent to the Keystone and Designate fake (testdata/wire.golden).
func TestWire(t *testing.T) {
	f, _ := newFake(t)
	rec := wiretest.NewRecorder(t, f)
	f.url = rec.URL // the catalog and links.next point through the recorder
	p := &Provider{DomainName: "OTC-EU-DE-0001", UserName: "casket-user", Password: "otc-password", ProjectName: "eu-de_casket",
		IdentityEndpoint: rec.URL + "/v3/auth/tokens", MinWait: 1}
	got := rec.Run(t, p, "casket.test.", wiretest.Scenario("b"))
	wiretest.Golden(t, "testdata/wire.golden", got)
	t.Run("append existing", func(t *testing.T) { wiretest.AppendExisting(t, p, "casket.test") })
}
