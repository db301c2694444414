// Package recs holds the record helpers the DNS providers share.
package recs

import (
	"strings"
	"time"

	"github.com/libdns/libdns"
)

// Typed returns rr as the libdns type for its record type (libdns.TXT for TXT), or rr itself when it does
// not parse.
func Typed(rr libdns.RR) libdns.Record {
	if r, err := rr.Parse(); err == nil {
		return r
	}
	return rr
}

// Matches reports whether the zone record have is selected by want under libdns's DeleteRecords rules:
// the names must be equal; an empty type, zero TTL or empty data in want matches any.
func Matches(want, have libdns.RR, zone string) bool {
	if !strings.EqualFold(FQDN(want.Name, zone), FQDN(have.Name, zone)) {
		return false
	}
	if want.Type != "" && !strings.EqualFold(want.Type, have.Type) {
		return false
	}
	if want.TTL != 0 && want.TTL.Truncate(time.Second) != have.TTL.Truncate(time.Second) {
		return false
	}
	return want.Data == "" || want.Data == have.Data
}

// FQDN returns the absolute name of name in zone, with a trailing dot, lower-case.
func FQDN(name, zone string) string {
	return strings.ToLower(libdns.AbsoluteName(name, Zone(zone)))
}

// Zone returns zone with exactly one trailing dot.
func Zone(zone string) string {
	return strings.TrimSuffix(zone, ".") + "."
}

// Relative returns the name of fqdn relative to zone ("@" for the apex).
func Relative(fqdn, zone string) string {
	return libdns.RelativeName(strings.ToLower(strings.TrimSuffix(fqdn, "."))+".", strings.ToLower(Zone(zone)))
}

// TTLSeconds returns ttl in whole seconds, at least min.
func TTLSeconds(ttl time.Duration, min int) int {
	return max(int(ttl/time.Second), min)
}

// QuoteTXT quotes text for APIs that take TXT data in zone-file syntax, splitting it into strings of at
// most 255 bytes.
func QuoteTXT(text string) string {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, quote(text[:255]))
		text = text[255:]
	}
	parts = append(parts, quote(text))
	return strings.Join(parts, " ")
}

func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// UnquoteTXT reverses QuoteTXT (and accepts unquoted text as is).
func UnquoteTXT(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	var b strings.Builder
	in, esc := false, false
	for _, c := range []byte(s) {
		switch {
		case esc:
			b.WriteByte(c)
			esc = false
		case c == '\\' && in:
			esc = true
		case c == '"':
			in = !in
		case in:
			b.WriteByte(c)
		}
	}
	return b.String()
}
