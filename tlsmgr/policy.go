// Package tlsmgr manages TLS certificates for Casket on top of certmagic: which names qualify for automatic
// HTTPS, where certificates are stored, and the `tls` directive's policy.
package tlsmgr

// Policy is the TLS configuration of one site, as written with the `tls` directive.
type Policy struct {
	Off        bool       // `tls off`: serve plain HTTP, no automatic HTTPS
	SelfSigned bool       // `tls self_signed`
	Email      string     // ACME account email
	CA         string     // ACME directory URL
	Manual     []CertFile // `tls cert key` pairs
}

// CertFile is a user-provided certificate and key pair.
type CertFile struct {
	Cert, Key string
}
