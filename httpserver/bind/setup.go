// Package bind implements the `bind` directive, which makes a site's listener use one host or IP address
// instead of all interfaces.
package bind

import (
	"fmt"
	"net"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// Setup parses `bind host` into s.BindHost. The host may be a name, an IPv4 address or an IPv6 address
// (with or without brackets); a port is rejected because the port comes from the site address.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next() // directive name
	var host string
	if !d.AllArgs(&host) {
		return nil, d.Errf("expected exactly one argument, the host or IP address to listen on (e.g. `bind 127.0.0.1`)")
	}
	if d.NextBlock(0) {
		return nil, d.Errf("takes no block")
	}
	h, err := normalize(host)
	if err != nil {
		return nil, d.Errf("%v", err)
	}
	s.BindHost = h
	return nil, nil
}

// normalize checks host and strips IPv6 brackets.
func normalize(host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("empty host")
	}
	if strings.HasPrefix(host, "[") {
		inner, ok := strings.CutSuffix(host[1:], "]")
		if !ok {
			return "", fmt.Errorf("%q has a port or an unclosed bracket; bind takes only a host, the port comes from the site address", host)
		}
		if net.ParseIP(inner) == nil {
			return "", fmt.Errorf("%q is not a valid IPv6 address", host)
		}
		return inner, nil
	}
	if net.ParseIP(host) != nil {
		return host, nil // IPv4, or IPv6 without brackets (colons are part of the address)
	}
	if strings.Contains(host, ":") {
		return "", fmt.Errorf("%q has a port; bind takes only a host, the port comes from the site address", host)
	}
	if strings.ContainsAny(host, "/ \t") {
		return "", fmt.Errorf("%q is not a valid host", host)
	}
	return host, nil
}
