package acmetest

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Pebble; skipped with -short")
	}
	p := Start(t, Options{})
	if p.DirectoryURL == "" || p.Roots == nil || len(p.RootPEM) == 0 || p.HTTPPort == 0 || p.TLSPort == 0 {
		t.Fatalf("incomplete Pebble: %+v", p)
	}
	if p.Orders() != 0 || p.Issued() != 0 {
		t.Errorf("fresh Pebble counts orders %d, issued %d", p.Orders(), p.Issued())
	}
	p.Stop()
	p.Stop() // twice is fine
}

func TestDNS(t *testing.T) {
	addr := startDNS(t)
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network}
		m := new(dns.Msg)
		m.SetQuestion("anything.casket.test.", dns.TypeA)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if len(r.Answer) != 1 || !r.Answer[0].(*dns.A).A.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("%s: answer %v", network, r.Answer)
		}
		m.SetQuestion("anything.casket.test.", dns.TypeAAAA)
		if r, _, err = c.Exchange(m, addr); err != nil || len(r.Answer) != 0 || r.Rcode != dns.RcodeSuccess {
			t.Errorf("%s AAAA: %v %v", network, r, err)
		}
	}
}
