package httpserver

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Replacer expands {placeholders} in strings for one request (features.md §3 "Placeholders").
// Unknown placeholders become the empty value; "\{" and "\}" are literal braces.
type Replacer struct {
	req   *http.Request
	info  *RequestInfo
	empty string
	extra map[string]string
}

// NewReplacer returns a Replacer for r. emptyValue replaces placeholders that have no value ("" for
// headers, "-" for logs).
func NewReplacer(r *http.Request, emptyValue string) *Replacer {
	return &Replacer{req: r, info: InfoFrom(r), empty: emptyValue}
}

// Set adds or overrides a placeholder for this Replacer only (e.g. regex captures "1", "2").
func (rp *Replacer) Set(name, value string) {
	if rp.extra == nil {
		rp.extra = make(map[string]string)
	}
	rp.extra[name] = value
}

// Replace expands every placeholder in s.
func (rp *Replacer) Replace(s string) string {
	if !strings.ContainsAny(s, "{}\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}') {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		name := s[i+1 : i+1+end]
		if v, ok := rp.Value(name); ok && v != "" {
			b.WriteString(v)
		} else {
			b.WriteString(rp.empty)
		}
		i += end + 1
	}
	return b.String()
}

// Value returns the value of one placeholder name (without braces) and whether it is known.
func (rp *Replacer) Value(name string) (string, bool) {
	if v, ok := rp.extra[name]; ok {
		return v, true
	}
	r := rp.req
	if name == "" {
		return "", false
	}
	switch name[0] {
	case '>':
		return r.Header.Get(name[1:]), true
	case '<':
		if rec := rp.info.Recorder; rec != nil {
			return rec.Header().Get(name[1:]), true
		}
		return "", false
	case '~':
		if c, err := r.Cookie(name[1:]); err == nil {
			return c.Value, true
		}
		return "", false
	case '?':
		return r.URL.Query().Get(name[1:]), true
	case '$':
		key, def, hasDef := strings.Cut(name[1:], "=")
		if v, ok := os.LookupEnv(key); ok {
			return v, true
		}
		if hasDef {
			return def, true
		}
		return "", false
	}
	if v, ok := rp.info.Var(name); ok {
		return v, true
	}
	orig := rp.info.OriginalURL
	switch name {
	case "method":
		return r.Method, true
	case "scheme":
		if r.TLS != nil {
			return "https", true
		}
		return "http", true
	case "host":
		return r.Host, true
	case "hostonly":
		return hostOnly(r.Host), true
	case "hostname":
		h, err := os.Hostname()
		return h, err == nil
	case "remote":
		return hostOnly(r.RemoteAddr), true
	case "port":
		_, p, err := net.SplitHostPort(r.RemoteAddr)
		return p, err == nil
	case "server_port":
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			_, p, err := net.SplitHostPort(la.String())
			return p, err == nil
		}
		return "", false
	case "path":
		return orig.Path, true
	case "path_escaped":
		return url.QueryEscape(orig.Path), true
	case "uri":
		return orig.RequestURI(), true
	case "uri_escaped":
		return url.QueryEscape(orig.RequestURI()), true
	case "query":
		return orig.RawQuery, true
	case "query_escaped":
		return url.QueryEscape(orig.RawQuery), true
	case "fragment":
		return orig.Fragment, true
	case "rewrite_path":
		return r.URL.Path, true
	case "rewrite_path_escaped":
		return url.QueryEscape(r.URL.Path), true
	case "rewrite_uri":
		return r.URL.RequestURI(), true
	case "rewrite_uri_escaped":
		return url.QueryEscape(r.URL.RequestURI()), true
	case "proto":
		return r.Proto, true
	case "file":
		_, f := path.Split(r.URL.Path)
		return f, true
	case "dir":
		d, _ := path.Split(r.URL.Path)
		return d, true
	case "request":
		return r.Method + " " + orig.RequestURI() + " " + r.Proto, true
	case "when":
		return rp.info.Start.Format("02/Jan/2006:15:04:05 -0700"), true
	case "when_iso":
		return rp.info.Start.UTC().Format(time.RFC3339), true
	case "when_iso_local":
		return rp.info.Start.Format(time.RFC3339), true
	case "when_unix":
		return strconv.FormatInt(rp.info.Start.Unix(), 10), true
	case "when_unix_ms":
		return strconv.FormatInt(rp.info.Start.UnixMilli(), 10), true
	case "status":
		if rec := rp.info.Recorder; rec != nil {
			return strconv.Itoa(rec.Status()), true
		}
		return "", false
	case "size":
		if rec := rp.info.Recorder; rec != nil {
			return strconv.FormatInt(rec.Size(), 10), true
		}
		return "", false
	case "latency":
		return time.Since(rp.info.Start).String(), true
	case "latency_ms":
		return strconv.FormatInt(time.Since(rp.info.Start).Milliseconds(), 10), true
	case "tls_protocol":
		if r.TLS != nil {
			return tlsVersionName(r.TLS.Version), true
		}
		return "", false
	case "tls_cipher":
		if r.TLS != nil {
			return tls.CipherSuiteName(r.TLS.CipherSuite), true
		}
		return "", false
	case "tls_client_fingerprint":
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
			return hex.EncodeToString(sum[:]), true
		}
		return "", false
	case "tls_client_serial":
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			return r.TLS.PeerCertificates[0].SerialNumber.String(), true
		}
		return "", false
	case "tls_client_s_dn":
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			return r.TLS.PeerCertificates[0].Subject.String(), true
		}
		return "", false
	case "tls_client_i_dn":
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			return r.TLS.PeerCertificates[0].Issuer.String(), true
		}
		return "", false
	}
	if strings.HasPrefix(name, "label") {
		n, err := strconv.Atoi(name[len("label"):])
		if err != nil || n < 1 {
			return "", false
		}
		labels := strings.Split(hostOnly(r.Host), ".")
		if n > len(labels) {
			return "", false
		}
		return labels[n-1], true
	}
	return "", false
}

// hostOnly strips the port from a host:port pair, leaving other strings alone.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "tls1.0"
	case tls.VersionTLS11:
		return "tls1.1"
	case tls.VersionTLS12:
		return "tls1.2"
	case tls.VersionTLS13:
		return "tls1.3"
	}
	return ""
}
