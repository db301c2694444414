package tlsmgr

import (
	"crypto/x509"

	"golang.org/x/crypto/ocsp"
)

// observeEvent feeds certmagic's events to the metrics registry and the certrenew hooks: every event
// goes to Metrics (which counts ACME orders), a renewal calls OnRenewed, and a managed certificate
// loaded into the cache records its expiry and OCSP staple under each of its names.
func (m *Manager) observeEvent(event string, data map[string]any) {
	m.opts.Metrics.ObserveCertmagicEvent(event, data)
	switch event {
	case "cert_obtained":
		if renewal, _ := data["renewal"].(bool); renewal && m.opts.OnRenewed != nil {
			if name, _ := data["identifier"].(string); name != "" {
				go m.opts.OnRenewed(name)
			}
		}
	case "cached_managed_cert":
		if m.opts.Metrics == nil {
			return
		}
		sans, _ := data["sans"].([]string)
		for _, name := range sans {
			m.recordCertificate(name)
		}
	}
}

// recordCertificate records the expiry and OCSP staple of the cached certificate serving name that
// expires last (the newest one, while a renewed certificate replaces an old one).
func (m *Manager) recordCertificate(name string) {
	var (
		leaf   *x509.Certificate
		staple []byte
	)
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && (leaf == nil || c.Leaf.NotAfter.After(leaf.NotAfter)) {
			leaf, staple = c.Leaf, c.OCSPStaple
		}
	}
	if leaf == nil {
		return
	}
	m.opts.Metrics.SetCertificate(name, leaf.NotAfter)
	if len(staple) == 0 {
		return
	}
	resp, err := ocsp.ParseResponse(staple, nil)
	if err != nil {
		return
	}
	m.opts.Metrics.SetOCSPStaple(name, resp.ProducedAt, ocspStatus(resp.Status))
}

// ocspStatus names an OCSP certificate status the way the metrics label it.
func ocspStatus(s int) string {
	switch s {
	case ocsp.Good:
		return "good"
	case ocsp.Revoked:
		return "revoked"
	default:
		return "unknown"
	}
}
