package requestid

import (
	"crypto/rand"
	"net/http"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// RequestID is the `request_id` middleware.
type RequestID struct {
	Next        httpserver.Handler
	TrustHeader string // request field whose UUID is reused when present; "" trusts none
}

// ServeHTTP stores the request's ID as the "request_id" variable of its RequestInfo: the UUID in the
// trusted field when that field holds one (in canonical form), otherwise a new random (version 4) UUID.
func (h *RequestID) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	var id string
	if h.TrustHeader != "" {
		if v := r.Header.Get(h.TrustHeader); v != "" {
			id, _ = CanonicalUUID(v)
		}
	}
	if id == "" {
		id = NewUUID()
	}
	httpserver.InfoFrom(r).SetVar("request_id", id)
	return h.Next.ServeHTTP(w, r)
}

// NewUUID returns a random version 4 UUID in its canonical form (RFC 9562).
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails (it aborts the program instead)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return format(&b)
}

const hexDigits = "0123456789abcdef"

// format writes b in the canonical 8-4-4-4-12 form of lower-case hex digits.
func format(b *[16]byte) string {
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		j += 2
	}
	return string(s[:])
}

// CanonicalUUID parses a UUID written in the 8-4-4-4-12 hex form, with or without the dashes,
// in braces or after "urn:uuid:", in either case, and returns it in canonical lower-case form.
func CanonicalUUID(s string) (string, bool) {
	switch {
	case len(s) == 38 && s[0] == '{' && s[37] == '}':
		s = s[1:37]
	case len(s) == 45 && strings.EqualFold(s[:9], "urn:uuid:"):
		s = s[9:]
	}
	var b [16]byte
	switch len(s) {
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		j := 0
		for i := 0; i < 36; {
			if s[i] == '-' {
				i++
				continue
			}
			v, ok := hexByte(s[i], s[i+1])
			if !ok {
				return "", false
			}
			b[j] = v
			i, j = i+2, j+1
		}
	case 32:
		for j := range b {
			v, ok := hexByte(s[2*j], s[2*j+1])
			if !ok {
				return "", false
			}
			b[j] = v
		}
	default:
		return "", false
	}
	return format(&b), true
}

// ValidUUID reports whether CanonicalUUID accepts s.
func ValidUUID(s string) bool {
	_, ok := CanonicalUUID(s)
	return ok
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := fromHex(hi)
	l, ok2 := fromHex(lo)
	return h<<4 | l, ok1 && ok2
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
