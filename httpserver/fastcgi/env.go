package fastcgi

import (
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// splitPath cuts fpath after the first split extension (case-insensitive): "/index.php/a/b" gives
// "/index.php" and "/a/b".
func (h *Handler) splitPath(fpath string) (script, pathInfo string) {
	lower := strings.ToLower(fpath)
	for _, s := range h.Config.Split {
		if i := strings.Index(lower, strings.ToLower(s)); i >= 0 {
			end := i + len(s)
			return fpath[:end], fpath[end:]
		}
	}
	return fpath, ""
}

// params builds the CGI/1.1 variables (RFC 3875) PHP applications expect, FastCGI-encoded.
func (h *Handler) params(r *http.Request, fpath string, length int64) []byte {
	script, pathInfo := h.splitPath(fpath)
	info := httpserver.InfoFrom(r)
	reqURI := r.URL.RequestURI()
	if info.OriginalURL != nil {
		reqURI = info.OriginalURL.RequestURI()
	}
	remoteIP, remotePort, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remoteIP = r.RemoteAddr
	}
	serverName, hostPort, err := net.SplitHostPort(r.Host)
	if err != nil {
		serverName = r.Host
	}
	serverPort := hostPort
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			serverPort = p
		}
	}
	if serverPort == "" {
		serverPort = "80"
		if r.TLS != nil {
			serverPort = "443"
		}
	}
	b := make([]byte, 0, 1024)
	add := func(k, v string) { b = appendPair(b, k, v) }
	add("GATEWAY_INTERFACE", "CGI/1.1")
	add("SERVER_SOFTWARE", "Casket")
	add("SERVER_PROTOCOL", r.Proto)
	add("SERVER_NAME", strings.Trim(serverName, "[]"))
	add("SERVER_PORT", serverPort)
	add("REQUEST_METHOD", r.Method)
	add("REQUEST_URI", reqURI)
	add("QUERY_STRING", r.URL.RawQuery)
	add("DOCUMENT_ROOT", h.root)
	add("DOCUMENT_URI", script)
	add("SCRIPT_NAME", script)
	add("SCRIPT_FILENAME", filepath.Join(h.root, filepath.FromSlash(script)))
	add("PATH_INFO", pathInfo)
	if pathInfo != "" {
		add("PATH_TRANSLATED", filepath.Join(h.root, filepath.FromSlash(pathInfo)))
	}
	add("REMOTE_ADDR", remoteIP)
	add("REMOTE_HOST", remoteIP)
	add("REMOTE_PORT", remotePort)
	add("CONTENT_TYPE", r.Header.Get("Content-Type"))
	add("CONTENT_LENGTH", strconv.FormatInt(length, 10))
	if user, ok := info.Var("user"); ok && user != "" {
		add("REMOTE_USER", user)
		add("AUTH_TYPE", "Basic")
	}
	if r.TLS != nil {
		add("HTTPS", "on")
		add("SSL_PROTOCOL", tlsVersion(r.TLS.Version))
		add("SSL_CIPHER", tls.CipherSuiteName(r.TLS.CipherSuite))
	}
	for k, vs := range r.Header {
		switch k {
		case "Proxy", "Content-Type", "Content-Length":
			// Proxy: never let a request header become HTTP_PROXY (httpoxy, CVE-2016-5385).
			continue
		}
		if strings.IndexByte(k, '_') >= 0 {
			continue // X_Foo would pose as X-Foo: both map to HTTP_X_FOO (nginx drops them too)
		}
		add(headerVar(k), strings.Join(vs, ", "))
	}
	if len(h.Config.Env) > 0 {
		rp := httpserver.NewReplacer(r, "")
		for _, kv := range h.Config.Env {
			add(kv[0], rp.Replace(kv[1]))
		}
	}
	return b
}

// headerVar turns a header field name into its CGI variable: X-Foo → HTTP_X_FOO.
func headerVar(k string) string {
	b := make([]byte, 0, len(k)+5)
	b = append(b, "HTTP_"...)
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '-':
			c = '_'
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// tlsVersion names a TLS version the way Apache and nginx do in SSL_PROTOCOL.
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return tls.VersionName(v)
}
