// Package tlsmgr manages TLS certificates for Casket on top of certmagic: which names qualify for automatic
// HTTPS, where certificates are stored, and the `tls` directive's policy.
package tlsmgr

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/casketserver/casket/casketfile"
)

// Policy is the TLS configuration of one site, as written with the `tls` directive.
type Policy struct {
	Off        bool       // `tls off`: serve plain HTTP, no automatic HTTPS
	SelfSigned bool       // `tls self_signed`
	Email      string     // ACME account email
	CA         string     // ACME directory URL (`ca`)
	Manual     []CertFile // `tls cert key` pairs
	LoadDirs   []string   // `load dir`: folders of PEM bundles

	CARoot  string // `ca_root FILE`: PEM file trusted for the ACME directory's TLS certificate
	KeyType string // `key_type`: p256 (default), p384, rsa2048, rsa4096, rsa8192, ed25519

	MinVersion, MaxVersion uint16        // `protocols`; zero means TLS 1.2 .. TLS 1.3
	Ciphers                []uint16      // `ciphers`; nil means Go's defaults
	Curves                 []tls.CurveID // `curves`; nil means Go's defaults (X25519MLKEM768 first)
	ALPN                   []string      // `alpn`; nil means h2, http/1.1

	ClientAuth                 tls.ClientAuthType // `clients`; tls.NoClientCert when absent
	ClientCAFiles              []string           // `clients ... ca.pem`
	ClientCAs                  *x509.CertPool     // loaded from ClientCAFiles at parse time
	InsecureDisableSNIMatching bool               // `insecure_disable_sni_matching`

	MustStaple bool // `must_staple`
	NoRedirect bool // `no_redirect`: no automatic HTTP→HTTPS redirect for the site

	// Parsed and stored for the issues that implement them (DNS challenge, wildcard, on-demand TLS).
	DNSProvider string            // `dns provider`: use the DNS-01 challenge (exclusively) through this provider
	DNSOptions  map[string]string // `dns provider { key value }`: provider settings instead of environment variables
	DNS         DNSSettings       // propagation_delay, propagation_timeout, resolvers, dns_ttl, override_domain
	Wildcard    bool              // `wildcard`: the site's name is covered by a *.parent certificate
	Ask         string            // `ask URL`
	MaxCerts    int               // `max_certs N`
}

// CertFile is a user-provided certificate and key pair.
type CertFile struct {
	Cert, Key string
}

// OnDemand reports whether the policy asks for on-demand TLS (`ask` or `max_certs`).
func (p *Policy) OnDemand() bool { return p != nil && (p.Ask != "" || p.MaxCerts > 0) }

// configKey identifies the certmagic configuration a policy needs: policies with equal keys share one.
func (p *Policy) configKey() string {
	if p == nil {
		return ""
	}
	return strings.Join([]string{p.CA, strings.ToLower(p.Email), p.CARoot, p.keyType(),
		strconv.FormatBool(p.MustStaple), p.dnsKey()}, "\x00")
}

func (p *Policy) keyType() string {
	if p == nil || p.KeyType == "" {
		return "p256"
	}
	return p.KeyType
}

// ParsePolicy parses every `tls` directive in d (the cursor before the first one) into a new Policy.
// Files named by the directive are checked here (certificate pairs must load, client CA files must parse),
// so `-validate` reports them with their Casketfile line.
func ParsePolicy(d *casketfile.Dispenser) (*Policy, error) {
	p := new(Policy)
	for d.Next() {
		if err := p.parseOne(d); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parseOne parses one `tls` directive; the cursor is on its name.
func (p *Policy) parseOne(d *casketfile.Dispenser) error {
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		switch args[0] {
		case "off":
			p.Off = true
		case "self_signed":
			p.SelfSigned = true
		default:
			if !strings.Contains(args[0], "@") {
				return d.Errf("%q is not an email address, 'off' or 'self_signed' (for a certificate use: tls cert.pem key.pem)", args[0])
			}
			p.Email = args[0]
		}
	case 2:
		if err := checkPair(args[0], args[1]); err != nil {
			return d.Errf("loading certificate %s with key %s: %v", args[0], args[1], err)
		}
		p.Manual = append(p.Manual, CertFile{Cert: args[0], Key: args[1]})
	default:
		return d.ArgErr()
	}
	sawBlock := false
	for d.NextBlock(0) {
		sawBlock = true
		if p.Off {
			return d.Errf("'tls off' cannot have a block")
		}
		if err := p.parseSub(d); err != nil {
			return err
		}
	}
	if len(args) == 0 && !sawBlock {
		return d.Errf("expected an argument or a block (tls off, tls EMAIL, tls self_signed, tls CERT KEY, or tls { ... })")
	}
	if p.MinVersion != 0 && p.MaxVersion != 0 && p.MinVersion > p.MaxVersion {
		return d.Errf("protocols: minimum version is above the maximum")
	}
	return p.checkDNS(d)
}

// parseSub parses one subdirective of the block; the cursor is on its name.
func (p *Policy) parseSub(d *casketfile.Dispenser) error {
	name := d.Val()
	args := d.RemainingArgs()
	need := func(n int) error {
		if len(args) != n {
			return d.Errf("%s: expected %d argument(s), got %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "ca":
		if err := need(1); err != nil {
			return err
		}
		u, err := url.Parse(args[0])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return d.Errf("ca: %q is not an http(s) URL of an ACME directory", args[0])
		}
		p.CA = args[0]
	case "ca_root":
		if err := need(1); err != nil {
			return err
		}
		if _, err := loadPool(args); err != nil {
			return d.Errf("ca_root: %v", err)
		}
		p.CARoot = args[0]
	case "key_type":
		if err := need(1); err != nil {
			return err
		}
		kt := strings.ToLower(args[0])
		switch kt {
		case "p256", "p384", "rsa2048", "rsa4096", "rsa8192", "ed25519":
			p.KeyType = kt
		default:
			return d.Errf("key_type: unknown key type %q (use p256, p384, rsa2048, rsa4096, rsa8192 or ed25519)", args[0])
		}
	case "protocols":
		if len(args) < 1 || len(args) > 2 {
			return d.Errf("protocols: expected a minimum and an optional maximum version, e.g. protocols tls1.2 tls1.3")
		}
		vs := make([]uint16, len(args))
		for i, a := range args {
			v, ok := tlsVersions[strings.ToLower(a)]
			if !ok {
				return d.Errf("protocols: unknown version %q (use tls1.0, tls1.1, tls1.2 or tls1.3)", a)
			}
			vs[i] = v
		}
		p.MinVersion = vs[0]
		if len(vs) == 2 {
			p.MaxVersion = vs[1]
		}
	case "ciphers":
		if len(args) == 0 {
			return d.Errf("ciphers: expected at least one cipher suite name")
		}
		for _, a := range args {
			id, ok := cipherID(a)
			if !ok {
				return d.Errf("ciphers: unknown cipher suite %q", a)
			}
			p.Ciphers = append(p.Ciphers, id)
		}
	case "curves":
		if len(args) == 0 {
			return d.Errf("curves: expected at least one curve name")
		}
		for _, a := range args {
			c, ok := curveIDs[strings.ToLower(a)]
			if !ok {
				return d.Errf("curves: unknown curve %q (use x25519mlkem768, x25519, p256, p384 or p521)", a)
			}
			p.Curves = append(p.Curves, c)
		}
	case "clients":
		mode := tls.RequireAndVerifyClientCert
		files := args
		if len(args) > 0 {
			switch args[0] {
			case "request":
				mode, files = tls.RequestClientCert, args[1:]
			case "require":
				mode, files = tls.RequireAnyClientCert, args[1:]
			case "verify_if_given":
				mode, files = tls.VerifyClientCertIfGiven, args[1:]
			}
		}
		if len(files) == 0 && (mode == tls.RequireAndVerifyClientCert || mode == tls.VerifyClientCertIfGiven) {
			return d.Errf("clients: expected at least one CA certificate file to verify clients with")
		}
		if len(files) > 0 {
			pool, err := loadPool(files)
			if err != nil {
				return d.Errf("clients: %v", err)
			}
			p.ClientCAs = pool
			if mode == tls.RequestClientCert {
				mode = tls.VerifyClientCertIfGiven
			} else if mode == tls.RequireAnyClientCert {
				mode = tls.RequireAndVerifyClientCert
			}
		}
		p.ClientAuth, p.ClientCAFiles = mode, files
	case "insecure_disable_sni_matching":
		if err := need(0); err != nil {
			return err
		}
		p.InsecureDisableSNIMatching = true
	case "load":
		if len(args) == 0 {
			return d.Errf("load: expected at least one folder")
		}
		for _, dir := range args {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return d.Errf("load: %q is not a readable folder", dir)
			}
		}
		p.LoadDirs = append(p.LoadDirs, args...)
	case "alpn":
		if len(args) == 0 {
			return d.Errf("alpn: expected at least one protocol name, e.g. alpn h2 http/1.1")
		}
		p.ALPN = append(p.ALPN, args...)
	case "must_staple":
		if err := need(0); err != nil {
			return err
		}
		p.MustStaple = true
	case "no_redirect":
		if err := need(0); err != nil {
			return err
		}
		p.NoRedirect = true
	case "wildcard":
		if err := need(0); err != nil {
			return err
		}
		p.Wildcard = true
	case "ask":
		if err := need(1); err != nil {
			return err
		}
		u, err := url.Parse(args[0])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return d.Errf("ask: %q is not an http(s) URL", args[0])
		}
		p.Ask = args[0]
	case "max_certs":
		if err := need(1); err != nil {
			return err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			return d.Errf("max_certs: %q is not a positive number", args[0])
		}
		p.MaxCerts = n
	case "dns":
		if err := need(1); err != nil {
			return err
		}
		p.DNSProvider = args[0]
		for d.NextBlock(1) {
			key := d.Val()
			vals := d.RemainingArgs()
			if len(vals) != 1 {
				return d.Errf("dns %s: option %s expects one value", p.DNSProvider, key)
			}
			if p.DNSOptions == nil {
				p.DNSOptions = make(map[string]string)
			}
			p.DNSOptions[key] = vals[0]
		}
	default:
		if ok, err := p.parseDNSSub(d, name, args); ok {
			return err
		}
		return d.Errf("unknown subdirective %q", name)
	}
	return nil
}

// checkPair reports whether certFile and keyFile form a usable certificate.
func checkPair(certFile, keyFile string) error {
	_, err := tls.LoadX509KeyPair(certFile, keyFile)
	return err
}

// loadPool reads PEM certificates from files into a new pool.
func loadPool(files []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		pemBytes, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%s: no PEM certificate found", f)
		}
	}
	return pool, nil
}

var tlsVersions = map[string]uint16{
	"tls1.0": tls.VersionTLS10,
	"tls1.1": tls.VersionTLS11,
	"tls1.2": tls.VersionTLS12,
	"tls1.3": tls.VersionTLS13,
}

var curveIDs = map[string]tls.CurveID{
	"x25519mlkem768": tls.X25519MLKEM768,
	"x25519":         tls.X25519,
	"p256":           tls.CurveP256,
	"p384":           tls.CurveP384,
	"p521":           tls.CurveP521,
}

// casketCiphers are the cipher suite names Caddy v1 and Casket accept (OpenSSL-like spelling).
var casketCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES256-GCM-SHA384":      tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":        tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-AES128-GCM-SHA256":      tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":        tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-WITH-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-WITH-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-AES256-CBC-SHA":           tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES128-CBC-SHA":           tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-CBC-SHA":         tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-CBC-SHA":         tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"RSA-AES256-CBC-SHA":                 tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"RSA-AES128-CBC-SHA":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-3DES-EDE-CBC-SHA":         tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"RSA-3DES-EDE-CBC-SHA":               tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

// cipherID looks a cipher suite up by its Casket name or by Go's IANA name (TLS_ECDHE_...).
func cipherID(name string) (uint16, bool) {
	if id, ok := casketCiphers[strings.ToUpper(name)]; ok {
		return id, true
	}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if strings.EqualFold(cs.Name, name) {
				return cs.ID, true
			}
		}
	}
	return 0, false
}
