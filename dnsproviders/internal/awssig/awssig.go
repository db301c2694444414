// Package awssig signs HTTP requests with AWS Signature Version 4 (header form), the scheme every AWS API
// the DNS providers call accepts: a canonical request over the method, path, query, chosen headers and
// the payload's SHA-256, signed with a key derived from the secret, the date, the region and the service.
package awssig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Keys are the credentials a request is signed with; SessionToken is set for temporary credentials.
type Keys struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

const (
	algorithm  = "AWS4-HMAC-SHA256"
	timeFormat = "20060102T150405Z"
)

// Sign adds X-Amz-Date, X-Amz-Security-Token (for session credentials) and Authorization to req, whose
// payload is body, for service in region at time now. The query must already be in CanonicalQuery form.
func Sign(req *http.Request, body []byte, k Keys, service, region string, now time.Time) {
	now = now.UTC()
	amzDate := now.Format(timeFormat)
	req.Header.Set("X-Amz-Date", amzDate)
	if k.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", k.SessionToken)
	} else {
		req.Header.Del("X-Amz-Security-Token")
	}
	req.Header.Del("Authorization")
	sum := sha256.Sum256(body)
	headers, signed := canonicalHeaders(req, len(body))
	canonical := strings.Join([]string{
		req.Method,
		canonicalPath(req),
		CanonicalQuery(req.URL.RawQuery),
		headers,
		signed,
		hex.EncodeToString(sum[:]),
	}, "\n")
	day := now.Format("20060102")
	scope := day + "/" + region + "/" + service + "/aws4_request"
	crSum := sha256.Sum256([]byte(canonical))
	toSign := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crSum[:])
	key := mac([]byte("AWS4"+k.SecretAccessKey), day)
	key = mac(key, region)
	key = mac(key, service)
	key = mac(key, "aws4_request")
	sig := hex.EncodeToString(mac(key, toSign))
	req.Header.Set("Authorization", algorithm+" Credential="+k.AccessKeyID+"/"+scope+", SignedHeaders="+signed+", Signature="+sig)
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// unsigned are headers left out of the signature (proxies and clients may change them).
var unsigned = map[string]bool{"authorization": true, "user-agent": true, "x-amzn-trace-id": true, "expect": true,
	"content-length": true, "host": true, "accept-encoding": true}

// canonicalHeaders returns the canonical header block (each line ending in \n) and the signed header list.
func canonicalHeaders(req *http.Request, bodyLen int) (string, string) {
	vals := map[string]string{"host": host(req)}
	if bodyLen > 0 {
		vals["content-length"] = strconv.Itoa(bodyLen)
	}
	for k, v := range req.Header {
		lk := strings.ToLower(k)
		if unsigned[lk] {
			continue
		}
		trimmed := make([]string, len(v))
		for i, s := range v {
			trimmed[i] = strings.Join(strings.Fields(s), " ")
		}
		vals[lk] = strings.Join(trimmed, ",")
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(vals[k])
		b.WriteByte('\n')
	}
	return b.String(), strings.Join(names, ";")
}

// host is the Host header as sent, without a default port.
func host(req *http.Request) string {
	h := req.Host
	if h == "" {
		h = req.URL.Host
	}
	if strings.HasSuffix(h, ":80") && req.URL.Scheme == "http" {
		return strings.TrimSuffix(h, ":80")
	}
	if strings.HasSuffix(h, ":443") && req.URL.Scheme == "https" {
		return strings.TrimSuffix(h, ":443")
	}
	return h
}

// canonicalPath is the escaped path escaped once more, as SigV4 wants for every service but S3.
func canonicalPath(req *http.Request) string {
	p := req.URL.EscapedPath()
	if p == "" {
		return "/"
	}
	return Escape(p, true)
}

// CanonicalQuery sorts a raw query by key and value and escapes both the SigV4 way (RFC 3986, space as
// %20); requests should be sent with this form too.
func CanonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		pairs = append(pairs, kv{Escape(unescape(k), false), Escape(unescape(v), false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

// Query builds a canonical query string from key/value pairs (empty values kept).
func Query(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, Escape(kv[i], false)+"="+Escape(kv[i+1], false))
	}
	return CanonicalQuery(strings.Join(parts, "&"))
}

// Escape percent-encodes every byte but the RFC 3986 unreserved ones (and '/' when keepSlash).
func Escape(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// unescape decodes %XX and '+' (as a space) leniently.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '+':
			b.WriteByte(' ')
		case s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
