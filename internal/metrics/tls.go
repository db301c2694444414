package metrics

import (
	"crypto/tls"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// On-demand TLS decisions, the values of the `decision` label.
const (
	OnDemandAllowed     = "allowed"      // the name passed the ask endpoint / whitelist; a certificate is obtained
	OnDemandDenied      = "denied"       // the ask endpoint or the whitelist refused the name
	OnDemandRateLimited = "rate_limited" // refused because of the on-demand rate limit
)

// ObserveHandshake counts one completed TLS handshake. Feed it from tls.Config.VerifyConnection (see
// InstrumentTLS), which the server calls on every full and resumed handshake.
func (r *Registry) ObserveHandshake(version uint16, resumed bool) {
	if r == nil {
		return
	}
	res := "false"
	if resumed {
		res = "true"
	}
	r.handshakes.WithLabelValues(tlsVersion(version), res).Inc()
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "1.3"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS10:
		return "1.0"
	}
	return "unknown"
}

// InstrumentTLS returns a copy of cfg that counts handshakes: its VerifyConnection (chained before any
// existing one) calls ObserveHandshake, and so do the configurations returned by its
// GetConfigForClient. A nil registry returns cfg itself.
func (r *Registry) InstrumentTLS(cfg *tls.Config) *tls.Config {
	if r == nil || cfg == nil {
		return cfg
	}
	out := cfg.Clone()
	out.VerifyConnection = r.verifier(cfg.VerifyConnection)
	if get := cfg.GetConfigForClient; get != nil {
		var cache sync.Map // *tls.Config → its instrumented copy, so a handshake clones nothing
		out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if c == nil || err != nil {
				return c, err
			}
			if ic, ok := cache.Load(c); ok {
				return ic.(*tls.Config), nil
			}
			ic := c.Clone()
			ic.VerifyConnection = r.verifier(c.VerifyConnection)
			actual, _ := cache.LoadOrStore(c, ic)
			return actual.(*tls.Config), nil
		}
	}
	return out
}

func (r *Registry) verifier(next func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if next != nil {
			if err := next(cs); err != nil {
				return err
			}
		}
		r.ObserveHandshake(cs.Version, cs.DidResume)
		return nil
	}
}

// SetCertificate records a certificate in use for name and when it expires; call it whenever a
// certificate is loaded, obtained or renewed.
func (r *Registry) SetCertificate(name string, notAfter time.Time) {
	if r == nil {
		return
	}
	r.certExpiry.WithLabelValues(name).Set(float64(notAfter.Unix()))
}

// RemoveCertificate forgets the certificate and OCSP staple of name (it is no longer managed).
func (r *Registry) RemoveCertificate(name string) {
	if r == nil {
		return
	}
	r.certExpiry.DeleteLabelValues(name)
	r.ocsp.remove(name)
}

// ObserveACMEOrder counts one finished ACME order at the CA directory ca; err nil means success.
func (r *Registry) ObserveACMEOrder(ca string, err error) {
	if r == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "failure"
	}
	r.acmeOrders.WithLabelValues(ca, result).Inc()
}

// ObserveOnDemand counts one on-demand TLS decision (OnDemandAllowed, OnDemandDenied, ...).
func (r *Registry) ObserveOnDemand(decision string) {
	if r == nil {
		return
	}
	r.onDemand.WithLabelValues(decision).Inc()
}

// SetOCSPStaple records the OCSP response stapled for name: when the responder produced it and its
// status ("good", "revoked", "unknown"). The scrape reports its age, computed at scrape time.
func (r *Registry) SetOCSPStaple(name string, producedAt time.Time, status string) {
	if r == nil {
		return
	}
	r.ocsp.set(name, producedAt, status)
}

// ocspCollector reports the age of each OCSP staple when scraped, so the value is never stale.
type ocspCollector struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu      sync.Mutex
	staples map[string]staple
}

type staple struct {
	producedAt time.Time
	status     string
}

func newOCSPCollector() *ocspCollector {
	return &ocspCollector{
		desc: prometheus.NewDesc(Namespace+"_tls_ocsp_staple_age_seconds",
			"Age of the OCSP response stapled for each certificate, by name and status.",
			[]string{"name", "status"}, nil),
		now:     time.Now,
		staples: make(map[string]staple),
	}
}

func (c *ocspCollector) set(name string, producedAt time.Time, status string) {
	c.mu.Lock()
	c.staples[name] = staple{producedAt, status}
	c.mu.Unlock()
}

func (c *ocspCollector) remove(name string) {
	c.mu.Lock()
	delete(c.staples, name)
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *ocspCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *ocspCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range c.staples {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue,
			now.Sub(s.producedAt).Seconds(), name, s.status)
	}
}

// ObserveCertmagicEvent counts the ACME orders reported by a certmagic event (certmagic.Config.OnEvent):
// "cert_obtained" is a success, "cert_failed" a failure, labelled with the issuer key. Other events are
// ignored, so the TLS manager may pass every event through.
func (r *Registry) ObserveCertmagicEvent(event string, data map[string]any) {
	if r == nil {
		return
	}
	switch event {
	case "cert_obtained":
		ca, _ := data["issuer"].(string)
		r.ObserveACMEOrder(ca, nil)
	case "cert_failed":
		ca := ""
		if keys, ok := data["issuers"].([]string); ok && len(keys) > 0 {
			ca = keys[len(keys)-1] // the issuer whose error was returned
		}
		err, _ := data["error"].(error)
		if err == nil {
			err = errFailed
		}
		r.ObserveACMEOrder(ca, err)
	}
}

var errFailed = errors.New("order failed")
