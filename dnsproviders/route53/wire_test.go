package route53

import (
	"testing"

	"github.com/casketserver/casket/dnsproviders/internal/recs/wiretest"
)

// TestWire pins the requests sent to the Route 53 fake (testdata/wire.golden).
func TestWire(t *testing.T) {
	f, _ := newFakeRoute53(t)
	rec := wiretest.NewRecorder(t, f)
	p := testProvider(f, rec.URL)
	got := rec.Run(t, p, "casket.test", wiretest.Scenario("b"))
	wiretest.Golden(t, "testdata/wire.golden", got)
	t.Run("append existing", func(t *testing.T) { wiretest.AppendExisting(t, p, "casket.test") })
}
