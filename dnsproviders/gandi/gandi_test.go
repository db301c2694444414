package gandi

import (
	"strings"
	"testing"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
)

func TestNew(t *testing.T) {
	_, err := New(dnsconf.Config{Provider: "gandi", LookupEnv: func(string) (string, bool) { return "", false }})
	if err == nil || !strings.Contains(err.Error(), "dns gandi:") || !strings.Contains(err.Error(), "GANDI_API_KEY") {
		t.Fatalf("err = %v", err)
	}
	p, err := New(dnsconf.Config{Provider: "gandi", LookupEnv: func(k string) (string, bool) { return "tok", k == "GANDI_PERSONAL_ACCESS_TOKEN" }})
	if err != nil || p.PersonalAccessToken != "tok" || p.Name != "gandi" {
		t.Fatalf("p = %+v, err = %v", p, err)
	}
}
