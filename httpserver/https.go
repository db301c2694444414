package httpserver

import (
	"crypto/tls"
	"slices"

	"github.com/casketserver/casket/tlsmgr"
)

// placeholderTLS marks a TLS site in a built but not yet started instance; the caller replaces it with
// the certificate manager's config before Start (Options.AutoHTTPS).
func placeholderTLS() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }

// ServesTLS reports whether automatic HTTPS serves the site over TLS once its port is known: never with
// `tls off` or an http scheme (written, or implied by the HTTP port); always with an https scheme
// (written, or implied by the HTTPS port), a certificate of the user's (`tls cert key`, `load`,
// `self_signed`) or on-demand TLS; otherwise when the site qualifies for a managed certificate.
func ServesTLS(s *Site, httpPort string) bool {
	p := s.TLS
	switch {
	case p != nil && p.Off, s.Addr.Scheme == "http":
		return false
	case s.Addr.Scheme == "https":
		return true
	case p != nil && (p.SelfSigned || len(p.Manual) > 0 || len(p.LoadDirs) > 0 || p.OnDemand()):
		return true
	}
	return tlsmgr.Qualifies(s.Addr.Host, s.Addr.Port, s.Addr.Scheme, p, httpPort)
}

// ManagedTLS reports whether the site's certificate is obtained and renewed through ACME (automatic
// HTTPS proper), as opposed to served from the user's files or self-signed.
func ManagedTLS(s *Site, httpPort string) bool {
	return s.TLSConfig != nil && tlsmgr.Qualifies(s.Addr.Host, s.Addr.Port, s.Addr.Scheme, s.TLS, httpPort)
}

// planHTTPS runs after the ports are assigned: it gives TLS sites a placeholder TLSConfig and the https
// scheme, checks that TLS sites sharing a server name on one listener agree on the handshake, and
// returns the HTTP→HTTPS redirect sites to add.
func planHTTPS(sites []*Site, opts Options) ([]*Site, []error) {
	for _, s := range sites {
		if s.TLSConfig == nil && ServesTLS(s, opts.HTTPPort) {
			s.TLSConfig = placeholderTLS()
		}
		if s.TLSConfig != nil {
			s.Addr.Scheme = "https"
			s.sniCheck = s.TLS != nil && s.TLS.ClientAuth != tls.NoClientCert && !s.TLS.InsecureDisableSNIMatching
		}
	}
	errs := checkTLSCompatible(sites)
	return redirectSites(sites, opts), errs
}

// checkTLSCompatible rejects two TLS sites of one listener for the same server name whose `tls`
// settings would need different handshakes: the listener picks one config per name.
func checkTLSCompatible(sites []*Site) []error {
	type nameKey struct{ addr, host string }
	first := make(map[nameKey]*Site)
	var errs []error
	for _, s := range sites {
		if s.TLSConfig == nil {
			continue
		}
		k := nameKey{s.ListenAddress(), s.Addr.Host}
		other, ok := first[k]
		if !ok {
			first[k] = s
			continue
		}
		if why := tlsDifference(other.TLS, s.TLS); why != "" {
			errs = append(errs, tokenErr(s.label, "site %s and site %s serve the same name on %s with different TLS "+
				"settings (%s); give them the same tls settings", other.Addr.Key(), s.Addr.Key(), k.addr, why))
		}
	}
	return errs
}

// tlsDifference names the first handshake setting in which two policies differ, or "".
func tlsDifference(a, b *tlsmgr.Policy) string {
	if a == nil {
		a = &tlsmgr.Policy{}
	}
	if b == nil {
		b = &tlsmgr.Policy{}
	}
	switch {
	case a.MinVersion != b.MinVersion || a.MaxVersion != b.MaxVersion:
		return "protocols"
	case !slices.Equal(a.Ciphers, b.Ciphers):
		return "ciphers"
	case !slices.Equal(a.Curves, b.Curves):
		return "curves"
	case !slices.Equal(a.ALPN, b.ALPN):
		return "alpn"
	case a.ClientAuth != b.ClientAuth || !slices.Equal(a.ClientCAFiles, b.ClientCAFiles):
		return "clients"
	case a.InsecureDisableSNIMatching != b.InsecureDisableSNIMatching:
		return "insecure_disable_sni_matching"
	case a.SelfSigned != b.SelfSigned || !slices.Equal(a.Manual, b.Manual) || !slices.Equal(a.LoadDirs, b.LoadDirs):
		return "certificates"
	case a.CA != b.CA || a.KeyType != b.KeyType || a.MustStaple != b.MustStaple || a.DNSProvider != b.DNSProvider:
		return "certificate policy"
	}
	return ""
}
