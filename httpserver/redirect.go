package httpserver

import (
	"net"
	"net/http"
	"strings"
)

// redirectSites returns one HTTP→HTTPS redirect site on the HTTP port for every host (and bind
// address) that TLS sites serve (features.md §4.4), except when
//
//   - the site says `tls { no_redirect }`;
//   - the Casketfile defines a plaintext site for the host on the HTTP port;
//   - the site is on another port while a TLS site for the same host is on the HTTPS port (that one is
//     the target).
//
// The target port is the port the TLS site really listens on, left out of the URL when it is the HTTPS
// port. The redirect site inherits the TLS site's bind host and timeouts.
func redirectSites(sites []*Site, opts Options) []*Site {
	plain := make(map[string]bool)   // hosts with a site on the HTTP port
	onHTTPS := make(map[string]bool) // hosts with a TLS site on the HTTPS port
	for _, s := range sites {
		if s.Addr.Port == opts.HTTPPort && s.TLSConfig == nil {
			plain[s.Addr.Host] = true
		}
		if s.Addr.Port == opts.HTTPSPort && s.TLSConfig != nil {
			onHTTPS[s.Addr.Host] = true
		}
	}
	type redirKey struct{ bind, host string }
	made := make(map[redirKey]bool)
	var out []*Site
	for _, s := range sites {
		host := s.Addr.Host
		if s.TLSConfig == nil || (s.TLS != nil && s.TLS.NoRedirect) || plain[host] {
			continue
		}
		if s.Addr.Port != opts.HTTPSPort && onHTTPS[host] {
			continue
		}
		k := redirKey{s.BindHost, host}
		if made[k] {
			continue
		}
		made[k] = true
		out = append(out, newRedirectSite(s, opts))
	}
	return out
}

// newRedirectSite builds the redirect site for the TLS site target.
func newRedirectSite(target *Site, opts Options) *Site {
	addr := Address{Scheme: "http", Host: target.Addr.Host, Port: opts.HTTPPort}
	addr.Original = "http://" + net.JoinHostPort(addr.Host, addr.Port)
	if addr.Host == "" {
		addr.Original = "http://:" + addr.Port
	}
	addr.key = addr.buildKey(true, true)
	s := &Site{
		Addr:           addr,
		Root:           target.Root,
		BindHost:       target.BindHost,
		Timeouts:       target.Timeouts,
		MaxHeaderBytes: target.MaxHeaderBytes,
		ConfigFile:     target.ConfigFile,
		RedirectTo:     target,
		label:          target.label,
	}
	port := ""
	if target.Addr.Port != opts.HTTPSPort {
		port = ":" + target.Addr.Port
	}
	h := &httpsRedirect{port: port, fallbackHost: target.Addr.hostForURL()}
	s.handlers = []Handler{h}
	s.chain = h
	return s
}

// httpsRedirect answers every request with a permanent redirect to the same URL over HTTPS.
type httpsRedirect struct {
	port         string // ":port" when the TLS site is not on the HTTPS port, else ""
	fallbackHost string // used when the request names no host (HTTP/1.0)
}

// ServeHTTP writes 301 with Location https://<request host without port>[:port]<request URI> and closes
// the connection.
func (h *httpsRedirect) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	host := hostWithoutPort(r.Host)
	if host == "" || strings.Contains(host, "*") {
		host = h.fallbackHost
	}
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		uri = InfoFrom(r).OriginalURL.RequestURI()
	}
	hdr := w.Header()
	hdr.Set("Location", "https://"+host+h.port+uri)
	hdr.Set("Connection", "close")
	w.WriteHeader(http.StatusMovedPermanently)
	return nil
}

// hostWithoutPort strips the port from a Host header, keeping IPv6 brackets.
func hostWithoutPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		return h[:i]
	}
	return h
}
