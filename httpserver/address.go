package httpserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Standard ports ParseAddress assumes; Build uses the configured -http-port and -https-port instead.
const (
	DefaultHTTPPort  = "80"
	DefaultHTTPSPort = "443"
	DefaultPort      = "2015" // the -port default for sites that name no port
)

// Address is a parsed site address: scheme://host:port/path, any part of which may be empty.
type Address struct {
	Original string // the label as written
	Scheme   string // "http", "https" or "" (inferred from the port when it is the HTTP or HTTPS port)
	Host     string // lower-case host name or canonical IP (IPv6 without brackets); "" matches any host
	Port     string // "" when not written and not implied by the scheme
	Path     string // base path: "" or starting with "/" (lower-cased unless CASE_SENSITIVE_PATH)

	key string // normalized form of what was written; see Key
}

// ParseAddress parses a site label (features.md §3 "Addresses") assuming the standard HTTP and HTTPS
// ports 80 and 443. See ParseAddressPorts.
func ParseAddress(label string) (Address, error) {
	return ParseAddressPorts(label, DefaultHTTPPort, DefaultHTTPSPort)
}

// ParseAddressPorts parses a site label of the form scheme://host:port/path, where every part is
// optional but the label is not empty. httpPort and httpsPort are the ports `:http`/`:https` and the
// schemes stand for:
//
//   - the scheme, if written, must be http or https; it implies its port when none is written;
//   - `https://x:<httpPort>` and `http://x:<httpsPort>` are rejected;
//   - an explicit port equal to httpPort or httpsPort implies the scheme;
//   - the host is lower-cased and IPs are canonicalized; IPv6 hosts must be bracketed ("[::1]:8080");
//   - the path is lower-cased unless CASE_SENSITIVE_PATH is set; a bare "/" is the same as no path.
func ParseAddressPorts(label, httpPort, httpsPort string) (Address, error) {
	a := Address{Original: label}
	if label == "" {
		return a, errors.New("empty site address")
	}
	rest := label
	var schemeWritten bool
	if i := strings.Index(rest, "://"); i >= 0 {
		a.Scheme = strings.ToLower(rest[:i])
		if a.Scheme != "http" && a.Scheme != "https" {
			return a, fmt.Errorf("site address %q: unsupported scheme %q (use http or https)", label, rest[:i])
		}
		schemeWritten = true
		rest = rest[i+3:]
	}
	hostport := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, a.Path = rest[:i], rest[i:]
	}
	host, port, err := splitAddrHostPort(hostport)
	if err != nil {
		return a, fmt.Errorf("site address %q: %w", label, err)
	}
	if a.Host, err = normalizeHost(host); err != nil {
		return a, fmt.Errorf("site address %q: %w", label, err)
	}
	portWritten := port != ""
	switch strings.ToLower(port) {
	case "":
	case "http":
		port = httpPort
	case "https":
		port = httpsPort
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 || port[0] == '+' {
			return a, fmt.Errorf("site address %q: invalid port %q", label, port)
		}
		port = strconv.Itoa(n)
	}
	if strings.ContainsAny(a.Path, "?#") {
		return a, fmt.Errorf("site address %q: a site path cannot hold a query or fragment", label)
	}
	if a.Path == "/" {
		a.Path = ""
	}
	if !CaseSensitivePath {
		a.Path = strings.ToLower(a.Path)
	}
	if (a.Scheme == "http" && port == httpsPort && port != httpPort) ||
		(a.Scheme == "https" && port == httpPort && port != httpsPort) {
		return a, fmt.Errorf("site address %q: scheme and port violate convention (%s on port %s)", label, a.Scheme, port)
	}
	a.Port = port
	switch {
	case a.Port == "" && a.Scheme == "http":
		a.Port = httpPort
	case a.Port == "" && a.Scheme == "https":
		a.Port = httpsPort
	case a.Scheme == "" && a.Port != "":
		a.Scheme = schemeForPort(a.Port, httpPort, httpsPort)
	}
	a.key = a.buildKey(schemeWritten, portWritten)
	return a, nil
}

func schemeForPort(port, httpPort, httpsPort string) string {
	switch port {
	case httpsPort:
		return "https"
	case httpPort:
		return "http"
	}
	return ""
}

// splitAddrHostPort splits "host", "host:port", "[v6]" or "[v6]:port". A colon with nothing after it
// means no port.
func splitAddrHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("missing ']' in IPv6 host")
		}
		host, after := s[1:end], s[end+1:]
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return "", "", fmt.Errorf("invalid IPv6 address %q", host)
		}
		switch {
		case after == "":
		case after[0] == ':':
			port = after[1:]
		default:
			return "", "", fmt.Errorf("unexpected %q after IPv6 address", after)
		}
		return "[" + host + "]", port, nil
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", nil
	case 1:
		i := strings.IndexByte(s, ':')
		return s[:i], s[i+1:], nil
	}
	return "", "", errors.New("IPv6 addresses must be written in brackets, e.g. [::1]:8080")
}

// normalizeHost lower-cases a host name, canonicalizes an IP (bracketed IPv6 comes in with brackets
// and leaves without) and rejects characters no host name or pattern can hold.
func normalizeHost(host string) (string, error) {
	if strings.HasPrefix(host, "[") {
		ip, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil {
			return "", fmt.Errorf("invalid IPv6 address %q", host)
		}
		return ip.String(), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), nil
	}
	host = strings.ToLower(host)
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == '*', c >= 0x80:
		default:
			return "", fmt.Errorf("invalid character %q in host %q", c, host)
		}
	}
	return host, nil
}

// buildKey writes the normalized address the way it was written: the scheme only if written, the port
// only if written (`:http` as its number), the normalized host and path.
func (a Address) buildKey(schemeWritten, portWritten bool) string {
	var b strings.Builder
	if schemeWritten {
		b.WriteString(a.Scheme)
		b.WriteString("://")
	}
	b.WriteString(a.hostForURL())
	if portWritten {
		b.WriteByte(':')
		b.WriteString(a.Port)
	}
	b.WriteString(a.Path)
	if b.Len() == 0 {
		return "/" // the label "/": any host, any path
	}
	return b.String()
}

// hostForURL returns the host with brackets around an IPv6 address.
func (a Address) hostForURL() string {
	if strings.Contains(a.Host, ":") {
		return "[" + a.Host + "]"
	}
	return a.Host
}

// Key returns the normalized label: what was written, with the host lower-cased or canonicalized and
// the path normalized. `example.com` and `EXAMPLE.com` share a key; `example.com` and `example.com:443`
// do not (they can still collide on their resolved address, which Build reports too).
func (a Address) Key() string {
	if a.key != "" {
		return a.key
	}
	return a.buildKey(a.Scheme != "", a.Port != "")
}

// String returns the address for people: scheme://host:port/path, leaving out the port when it is the
// scheme's standard one, and "http" when the scheme is unknown.
func (a Address) String() string {
	scheme := a.Scheme
	if scheme == "" {
		scheme = "http"
	}
	s := scheme + "://"
	if a.Port != "" && !(scheme == "https" && a.Port == DefaultHTTPSPort) && !(scheme == "http" && a.Port == DefaultHTTPPort) {
		s += net.JoinHostPort(a.Host, a.Port)
	} else {
		s += a.hostForURL()
	}
	return s + a.Path
}
