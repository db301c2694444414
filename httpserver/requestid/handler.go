package requestid

import (
	"crypto/rand"
	"net/http"

	"github.com/casketserver/casket/httpserver"
)

// RequestID is the `request_id` middleware.
type RequestID struct {
	Next        httpserver.Handler
	TrustHeader string // request field whose UUID is reused when present; "" trusts none
}

// ServeHTTP stores the request's ID as the "request_id" variable of its RequestInfo: the UUID in the
// trusted field when that field holds one, otherwise a new random (version 4) UUID.
func (h *RequestID) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	var id string
	if h.TrustHeader != "" {
		if v := r.Header.Get(h.TrustHeader); ValidUUID(v) {
			id = v
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
	const hexdigits = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexdigits[c>>4], hexdigits[c&0x0f]
		j += 2
	}
	return string(s[:])
}

// ValidUUID reports whether s is a UUID in canonical 8-4-4-4-12 hexadecimal form (either case).
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
