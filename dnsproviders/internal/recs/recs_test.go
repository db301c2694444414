package recs

import (
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
)

func TestQuoteTXT(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct{ in, want string }{
		{"token", `"token"`},
		{`say "hi" \o/`, `"say \"hi\" \\o/"`},
		{long, `"` + long[:255] + `" "` + long[255:] + `"`},
	}
	for _, tc := range tests {
		if got := QuoteTXT(tc.in); got != tc.want {
			t.Errorf("QuoteTXT(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back := UnquoteTXT(tc.want); back != tc.in {
			t.Errorf("UnquoteTXT(%q) = %q, want %q", tc.want, back, tc.in)
		}
	}
	if got := UnquoteTXT("bare"); got != "bare" {
		t.Errorf("UnquoteTXT(bare) = %q", got)
	}
}

func TestMatches(t *testing.T) {
	have := libdns.RR{Name: "_acme-challenge.www", Type: "TXT", TTL: time.Minute, Data: "v"}
	tests := []struct {
		name string
		want libdns.RR
		ok   bool
	}{
		{"exact", libdns.RR{Name: "_acme-challenge.www", Type: "TXT", TTL: time.Minute, Data: "v"}, true},
		{"absolute name", libdns.RR{Name: "_ACME-challenge.www.casket.test.", Type: "TXT", Data: "v"}, true},
		{"any value", libdns.RR{Name: "_acme-challenge.www", Type: "TXT"}, true},
		{"any type", libdns.RR{Name: "_acme-challenge.www"}, true},
		{"other value", libdns.RR{Name: "_acme-challenge.www", Type: "TXT", Data: "w"}, false},
		{"other ttl", libdns.RR{Name: "_acme-challenge.www", Type: "TXT", TTL: time.Hour, Data: "v"}, false},
		{"other type", libdns.RR{Name: "_acme-challenge.www", Type: "A"}, false},
		{"other name", libdns.RR{Name: "www", Type: "TXT", Data: "v"}, false},
	}
	for _, tc := range tests {
		if got := Matches(tc.want, have, "casket.test."); got != tc.ok {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestNames(t *testing.T) {
	if got := FQDN("@", "casket.test"); got != "casket.test." {
		t.Errorf("FQDN(@) = %q", got)
	}
	if got := Relative("WWW.casket.test", "casket.test."); got != "www" {
		t.Errorf("Relative = %q", got)
	}
	if got := Relative("casket.test.", "casket.test"); got != "@" {
		t.Errorf("Relative(apex) = %q", got)
	}
	if _, ok := Typed(libdns.RR{Name: "x", Type: "TXT", Data: "v"}).(libdns.TXT); !ok {
		t.Error("Typed did not return libdns.TXT")
	}
}
