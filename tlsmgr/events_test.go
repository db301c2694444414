package tlsmgr

import (
	"testing"
	"time"

	"github.com/casketserver/casket/internal/metrics"
)

// metricSum adds the values of every sample of the named family (counters and gauges).
func metricSum(t *testing.T, reg *metrics.Registry, name string) (sum float64, samples int) {
	t.Helper()
	fams, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			samples++
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum, samples
}

func TestEventsFeedMetricsAndRenewHook(t *testing.T) {
	reg := metrics.New(nil)
	renewed := make(chan string, 2)
	m, err := New(Options{StorageDir: t.TempDir(), Metrics: reg, OnRenewed: func(n string) { renewed <- n }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	_ = m.event(m.ctx, "cert_obtained", map[string]any{"renewal": false, "identifier": "first.test", "issuer": "ca"})
	_ = m.event(m.ctx, "cert_obtained", map[string]any{"renewal": true, "identifier": "renew.test", "issuer": "ca"})
	_ = m.event(m.ctx, "cert_failed", map[string]any{"renewal": false, "identifier": "bad.test", "issuer": "ca"})
	select {
	case n := <-renewed:
		if n != "renew.test" {
			t.Fatalf("OnRenewed(%q), want renew.test", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnRenewed not called for a renewal")
	}
	time.Sleep(10 * time.Millisecond)
	select {
	case n := <-renewed:
		t.Fatalf("OnRenewed(%q) called for a first issuance", n)
	default:
	}
	if sum, _ := metricSum(t, reg, "casket_acme_orders_total"); sum != 3 {
		t.Errorf("casket_acme_orders_total = %v, want 3", sum)
	}

	// A certificate in the cache: its expiry is recorded for each name when certmagic reports it cached.
	if err := m.SelfSigned([]string{"a.test", "b.test"}); err != nil {
		t.Fatal(err)
	}
	_ = m.event(m.ctx, "cached_managed_cert", map[string]any{"sans": []string{"a.test", "b.test"}})
	sum, n := metricSum(t, reg, "casket_tls_certificate_expiry_timestamp_seconds")
	if n != 2 || sum < float64(time.Now().Unix())*2 {
		t.Errorf("certificate expiry: %d samples summing %v, want 2 in the future", n, sum)
	}
}

func TestTLSConfigCountsHandshakesWithMetrics(t *testing.T) {
	reg := metrics.New(nil)
	m, err := New(Options{StorageDir: t.TempDir(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.TLSConfig(nil).VerifyConnection == nil {
		t.Error("TLSConfig with Metrics: no VerifyConnection hook counting handshakes")
	}
}
