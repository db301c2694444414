package metrics

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// scrape fetches url and parses it with the official text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams
}

// find returns the metric of family name whose labels include want, or nil.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for k, v := range want {
			if got[k] != v {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

func TestSiteMetricsScraped(t *testing.T) {
	r := New(nil)
	lease, err := r.Serve("127.0.0.1:0", "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()

	s := r.Site("example.com")
	for range 3 {
		s.Begin()
		s.Done("GET", 200, 20*time.Millisecond, 1000)
	}
	s.Observe("POST", 404, time.Millisecond, 10)
	s.Observe("BREW", 418, time.Millisecond, 0)
	s.Observe("GET", 999, time.Millisecond, 0)                     // outside the prepared range
	r.Site("example.com").Observe("GET", 200, time.Millisecond, 0) // a reloaded site shares series

	fams := scrape(t, "http://"+lease.Addr().String()+"/metrics")
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"get 200", map[string]string{"site": "example.com", "code": "200", "method": "GET"}, 4},
		{"post 404", map[string]string{"site": "example.com", "code": "404", "method": "POST"}, 1},
		{"unknown method", map[string]string{"site": "example.com", "code": "418", "method": "OTHER"}, 1},
		{"odd code", map[string]string{"site": "example.com", "code": "999", "method": "GET"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := find(fams, "casket_http_requests_total", tt.labels)
			if m == nil {
				t.Fatalf("no series %v", tt.labels)
			}
			if got := m.GetCounter().GetValue(); got != tt.want {
				t.Errorf("requests = %v, want %v", got, tt.want)
			}
		})
	}
	h := find(fams, "casket_http_request_duration_seconds", map[string]string{"site": "example.com", "code": "200", "method": "GET"})
	if h == nil || h.GetHistogram().GetSampleCount() != 4 {
		t.Fatalf("duration histogram = %v, want 4 samples", h)
	}
	if got := h.GetHistogram().GetSampleSum(); got < 0.060 || got > 0.062 {
		t.Errorf("duration sum = %v, want about 0.061", got)
	}
	sz := find(fams, "casket_http_response_size_bytes", map[string]string{"site": "example.com", "code": "200", "method": "GET"})
	if sz == nil || sz.GetHistogram().GetSampleSum() != 3000 {
		t.Errorf("size histogram = %v, want sum 3000", sz)
	}
	if g := find(fams, "casket_http_requests_in_flight", map[string]string{"site": "example.com"}); g == nil || g.GetGauge().GetValue() != 0 {
		t.Errorf("in flight = %v, want 0", g)
	}
	if fams["go_goroutines"] == nil || fams["process_open_fds"] == nil {
		t.Error("runtime and process collectors missing")
	}
}

func TestObserveAllocatesNothing(t *testing.T) {
	s := New(nil).Site("a")
	s.Observe("GET", 200, time.Millisecond, 1) // first use creates the series
	if n := testing.AllocsPerRun(100, func() {
		s.Begin()
		s.Done("GET", 200, time.Millisecond, 512)
	}); n != 0 {
		t.Errorf("allocations per request = %v, want 0", n)
	}
}

func TestTLSHooks(t *testing.T) {
	r := New(nil)
	exp := time.Unix(1900000000, 0)
	r.SetCertificate("a.example", exp)
	r.SetCertificate("b.example", exp)
	r.RemoveCertificate("b.example")
	r.ObserveACMEOrder("https://acme.test/dir", nil)
	r.ObserveACMEOrder("https://acme.test/dir", errors.New("rate limited"))
	r.ObserveACMEOrder("https://acme.test/dir", errors.New("again"))
	r.ObserveOnDemand(OnDemandAllowed)
	r.ObserveOnDemand(OnDemandDenied)
	r.ObserveOnDemand(OnDemandDenied)
	r.ocsp.now = func() time.Time { return time.Unix(1000, 0) }
	r.SetOCSPStaple("a.example", time.Unix(400, 0), "good")
	r.ObserveHandshake(tls.VersionTLS13, false)
	r.ObserveHandshake(tls.VersionTLS12, true)

	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	tests := []struct {
		name, family string
		labels       map[string]string
		want         float64
	}{
		{"expiry", "casket_tls_certificate_expiry_timestamp_seconds", map[string]string{"name": "a.example"}, 1900000000},
		{"acme ok", "casket_acme_orders_total", map[string]string{"result": "success"}, 1},
		{"acme failed", "casket_acme_orders_total", map[string]string{"result": "failure", "ca": "https://acme.test/dir"}, 2},
		{"on demand allowed", "casket_tls_on_demand_decisions_total", map[string]string{"decision": "allowed"}, 1},
		{"on demand denied", "casket_tls_on_demand_decisions_total", map[string]string{"decision": "denied"}, 2},
		{"ocsp age", "casket_tls_ocsp_staple_age_seconds", map[string]string{"name": "a.example", "status": "good"}, 600},
		{"handshake 1.3", "casket_tls_handshakes_total", map[string]string{"version": "1.3", "resumed": "false"}, 1},
		{"handshake 1.2 resumed", "casket_tls_handshakes_total", map[string]string{"version": "1.2", "resumed": "true"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := find(fams, tt.family, tt.labels)
			if m == nil {
				t.Fatalf("no %s%v", tt.family, tt.labels)
			}
			got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if got != tt.want {
				t.Errorf("%s = %v, want %v", tt.family, got, tt.want)
			}
		})
	}
	if m := find(fams, "casket_tls_certificate_expiry_timestamp_seconds", map[string]string{"name": "b.example"}); m != nil {
		t.Error("removed certificate still reported")
	}
}

func TestInstrumentTLSCountsRealHandshakes(t *testing.T) {
	r := New(nil)
	donor := httptest.NewTLSServer(http.NotFoundHandler())
	cert := donor.TLS.Certificates[0]
	donor.Close()
	// The per-SNI configuration, as the TLS manager returns it, must be instrumented too.
	inner := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = r.InstrumentTLS(&tls.Config{
		Certificates:       []tls.Certificate{cert},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return inner, nil },
	})
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).DisableKeepAlives = true
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m := find(scrapeHandler(t, r), "casket_tls_handshakes_total", map[string]string{"version": "1.2"})
	if m == nil || m.GetCounter().GetValue() != 3 {
		t.Fatalf("handshakes = %v, want 3 TLS 1.2 handshakes", m)
	}
}

func scrapeHandler(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	return scrape(t, srv.URL)
}

func TestEndpointShared(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	r := New(zap.New(core))
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	a, err := r.Serve(addr, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Serve(addr, "/metrics")
	if err != nil {
		t.Fatalf("second lease on the same address: %v", err)
	}
	c, err := r.Serve(addr, "/other")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/other"); got != 200 {
		t.Errorf("/other = %d, want 200", got)
	}
	c.Release()
	if got := get("/other"); got != 404 {
		t.Errorf("/other after release = %d, want 404", got)
	}
	a.Release()
	a.Release() // a second release of the same lease changes nothing
	if got := get("/metrics"); got != 200 {
		t.Errorf("/metrics with one lease left = %d, want 200", got)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if got := get("/metrics"); got != -1 {
		t.Errorf("/metrics after the last release = %d, want connection refused", got)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("closing the endpoint logged %d warnings or errors: %v", n, logs.All())
	}
	d, err := r.Serve(addr, "/metrics") // the address can be bound again at once
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	if got := get("/metrics"); got != 200 {
		t.Errorf("/metrics after rebinding = %d, want 200", got)
	}
}

func TestNilRegistryIsNoop(t *testing.T) {
	var r *Registry
	r.ObserveHandshake(tls.VersionTLS13, false)
	r.SetCertificate("x", time.Now())
	r.RemoveCertificate("x")
	r.ObserveACMEOrder("ca", nil)
	r.ObserveOnDemand(OnDemandAllowed)
	r.SetOCSPStaple("x", time.Now(), "good")
	r.Site("x").Observe("GET", 200, 0, 0)
	if r.InstrumentTLS(nil) != nil {
		t.Error("InstrumentTLS(nil) on nil registry")
	}
	if _, err := r.Serve("127.0.0.1:0", "/metrics"); err == nil {
		t.Error("Serve on nil registry succeeded")
	}
}

func TestObserveCertmagicEvent(t *testing.T) {
	r := New(nil)
	r.ObserveCertmagicEvent("cert_obtaining", map[string]any{"identifier": "a"})
	r.ObserveCertmagicEvent("cert_obtained", map[string]any{"identifier": "a", "issuer": "le", "renewal": true})
	r.ObserveCertmagicEvent("cert_failed", map[string]any{"identifier": "b", "issuers": []string{"zs", "le"}, "error": errors.New("x")})
	r.ObserveCertmagicEvent("cert_failed", map[string]any{"identifier": "c"})
	fams := scrapeHandler(t, r)
	tests := []struct {
		ca, result string
		want       float64
	}{{"le", "success", 1}, {"le", "failure", 1}, {"", "failure", 1}}
	for _, tt := range tests {
		m := find(fams, "casket_acme_orders_total", map[string]string{"ca": tt.ca, "result": tt.result})
		if m == nil || m.GetCounter().GetValue() != tt.want {
			t.Errorf("orders{ca=%q,result=%s} = %v, want %v", tt.ca, tt.result, m, tt.want)
		}
	}
}
