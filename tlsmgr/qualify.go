package tlsmgr

import (
	"net"
	"strings"
)

// Qualifies reports whether a site gets automatic HTTPS (a managed certificate), following the rules of
// Casket's automatic HTTPS page exactly:
//
//   - the hostname is not empty, not localhost and not an IP address;
//   - it has at most one wildcard, and only as the whole left-most label (*.example.com);
//   - the port is not explicitly 80 nor the configured HTTP port (httpPort, the -http-port flag);
//   - the scheme is not explicitly http;
//   - TLS is not turned off (`tls off`) and the certificate is not provided by the user
//     (`tls cert key`, `load`, `self_signed`), unless on-demand TLS is enabled.
//
// Names under reserved TLDs (.test, .example, .invalid, .local) qualify: a public CA refuses them, which is
// handled like any other failed order, and a private CA may accept them. Whether Casket can bind the HTTP
// and HTTPS ports is not checked here; the server reports a bind failure when it starts.
func Qualifies(host, port, scheme string, p *Policy, httpPort string) bool {
	if !HostQualifies(host) {
		return false
	}
	if port == "80" || (httpPort != "" && port == httpPort) {
		return false
	}
	if strings.EqualFold(scheme, "http") {
		return false
	}
	if p != nil {
		if p.Off || p.SelfSigned {
			return false
		}
		if (len(p.Manual) > 0 || len(p.LoadDirs) > 0) && !p.OnDemand() {
			return false
		}
	}
	return true
}

// HostQualifies applies the hostname rules of Qualifies alone.
func HostQualifies(host string) bool {
	host = strings.TrimSpace(host)
	if host == "" || strings.EqualFold(host, "localhost") {
		return false
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return false
	}
	if strings.ContainsAny(host, " \t/\\:@") {
		return false
	}
	labels := strings.Split(host, ".")
	for i, l := range labels {
		if l == "" { // leading, trailing or doubled dot
			return false
		}
		if strings.Contains(l, "*") && (i != 0 || l != "*") {
			return false
		}
	}
	// a lone "*" has no domain under it
	return !(labels[0] == "*" && len(labels) < 2)
}
