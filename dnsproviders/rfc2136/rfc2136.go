// Package rfc2136 manages DNS records with RFC 2136 dynamic updates signed with TSIG (RFC 8945), as BIND,
// Knot and PowerDNS accept them. Records are read with a TSIG-signed zone transfer (AXFR), which the
// server must allow for the key.
package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// Provider sends dynamic updates to one primary name server.
type Provider struct {
	Nameserver    string // host:port (port 53 when omitted)
	KeyName       string // TSIG key name, e.g. "casket-key"
	Secret        string // TSIG secret, base64
	Algorithm     string // TSIG algorithm: hmac-sha256 (default), hmac-sha512, hmac-sha1, ...
	Timeout       time.Duration
	DefaultTTLSec int // TTL for records given without one; 0 means 60
}

// New builds a Provider from the `dns rfc2136` block and RFC2136_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		Nameserver: r.Required("nameserver", "RFC2136_NAMESERVER"),
		KeyName:    r.Required("tsig_key", "RFC2136_TSIG_KEY"),
		Secret:     r.Required("tsig_secret", "RFC2136_TSIG_SECRET"),
		Algorithm:  r.Optional("tsig_algorithm", "hmac-sha256", "RFC2136_TSIG_ALGORITHM"),
	}
	if p.Algorithm != "" && algorithm(p.Algorithm) == "" {
		r.Invalid("RFC2136_TSIG_ALGORITHM", "unknown TSIG algorithm (use hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224 or hmac-sha1)")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// algorithm maps a BIND-style algorithm name to its TSIG name.
func algorithm(name string) string {
	switch strings.ToLower(strings.TrimSuffix(name, ".")) {
	case "", "hmac-sha256":
		return dns.HmacSHA256
	case "hmac-sha1":
		return dns.HmacSHA1
	case "hmac-sha224":
		return dns.HmacSHA224
	case "hmac-sha384":
		return dns.HmacSHA384
	case "hmac-sha512":
		return dns.HmacSHA512
	}
	return ""
}

func (p *Provider) server() string {
	if _, _, err := net.SplitHostPort(p.Nameserver); err == nil {
		return p.Nameserver
	}
	return net.JoinHostPort(strings.Trim(p.Nameserver, "[]"), "53")
}

func (p *Provider) client() *dns.Client {
	return &dns.Client{
		Net:        "tcp",
		Timeout:    max(p.Timeout, 10*time.Second),
		TsigSecret: map[string]string{dns.Fqdn(p.KeyName): p.Secret},
	}
}

func (p *Provider) sign(m *dns.Msg) {
	m.SetTsig(dns.Fqdn(p.KeyName), algorithm(p.Algorithm), 300, time.Now().Unix())
}

// toRR converts a libdns record to a miekg/dns RR.
func (p *Provider) toRR(zone string, rec libdns.Record) (dns.RR, error) {
	rr := rec.RR()
	ttl := uint32(recs.TTLSeconds(rr.TTL, 0))
	if rr.TTL == 0 {
		ttl = uint32(max(p.DefaultTTLSec, 0))
		if ttl == 0 {
			ttl = 60
		}
	}
	name := recs.FQDN(rr.Name, zone)
	if strings.EqualFold(rr.Type, "TXT") {
		var chunks []string
		text := rr.Data
		for len(text) > 255 {
			chunks = append(chunks, text[:255])
			text = text[255:]
		}
		chunks = append(chunks, text)
		return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: chunks}, nil
	}
	out, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, ttl, strings.ToUpper(rr.Type), rr.Data))
	if err != nil {
		return nil, fmt.Errorf("rfc2136: record %s %s: %w", rr.Name, rr.Type, err)
	}
	return out, nil
}

// fromRR converts a miekg/dns RR to a libdns record relative to zone.
func fromRR(zone string, rr dns.RR) libdns.Record {
	h := rr.Header()
	out := libdns.RR{
		Name: recs.Relative(h.Name, zone),
		TTL:  time.Duration(h.Ttl) * time.Second,
		Type: dns.TypeToString[h.Rrtype],
	}
	if txt, ok := rr.(*dns.TXT); ok {
		out.Data = strings.Join(txt.Txt, "")
	} else {
		out.Data = strings.TrimSpace(strings.TrimPrefix(rr.String(), h.String()))
	}
	return recs.Typed(out)
}

// update sends one signed UPDATE message and checks the reply.
func (p *Provider) update(ctx context.Context, zone string, build func(m *dns.Msg)) error {
	m := new(dns.Msg)
	m.SetUpdate(recs.Zone(zone))
	build(m)
	p.sign(m)
	reply, _, err := p.client().ExchangeContext(ctx, m, p.server())
	if errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrSig) {
		return fmt.Errorf("rfc2136: update of zone %s at %s: %w (the server rejected the TSIG signature: check RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET and RFC2136_TSIG_ALGORITHM)",
			zone, p.server(), err)
	}
	if err != nil {
		return fmt.Errorf("rfc2136: update of zone %s at %s: %w", zone, p.server(), err)
	}
	if reply.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("rfc2136: update of zone %s at %s refused: %s (check the TSIG key and the zone's update policy)",
			zone, p.server(), dns.RcodeToString[reply.Rcode])
	}
	return nil
}

// AppendRecords adds recs to the zone with one dynamic update.
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	rrs := make([]dns.RR, 0, len(in))
	out := make([]libdns.Record, 0, len(in))
	for _, r := range in {
		rr, err := p.toRR(zone, r)
		if err != nil {
			return nil, err
		}
		rrs = append(rrs, rr)
		out = append(out, fromRR(zone, rr))
	}
	if err := p.update(ctx, zone, func(m *dns.Msg) { m.Insert(rrs) }); err != nil {
		return nil, err
	}
	return out, nil
}

// GetRecords returns the zone's records, from a TSIG-signed AXFR (SOA, NS and DNSSEC records left out).
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	m := new(dns.Msg)
	m.SetAxfr(recs.Zone(zone))
	p.sign(m)
	tr := &dns.Transfer{TsigSecret: map[string]string{dns.Fqdn(p.KeyName): p.Secret}, ReadTimeout: 10 * time.Second}
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", p.server())
	if err != nil {
		return nil, fmt.Errorf("rfc2136: zone transfer of %s: %w", zone, err)
	}
	tr.Conn = &dns.Conn{Conn: conn}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	envs, err := tr.In(m, p.server())
	if err != nil {
		return nil, fmt.Errorf("rfc2136: zone transfer of %s: %w", zone, err)
	}
	var out []libdns.Record
	for env := range envs {
		if env.Error != nil {
			return nil, fmt.Errorf("rfc2136: zone transfer of %s: %w (does the server allow transfers for the key?)", zone, env.Error)
		}
		for _, rr := range env.RR {
			switch rr.Header().Rrtype {
			case dns.TypeSOA, dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeDNSKEY, dns.TypeNSEC3PARAM:
				continue
			}
			out = append(out, fromRR(zone, rr))
		}
	}
	return out, nil
}

// DeleteRecords removes the matching records with one dynamic update. The records actually present are
// read first with a zone transfer; when the server refuses transfers, records given in full are removed
// blindly and returned as deleted.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	var targets []libdns.Record
	if current, err := p.GetRecords(ctx, zone); err == nil {
		for _, have := range current {
			for _, want := range in {
				if recs.Matches(want.RR(), have.RR(), zone) {
					targets = append(targets, have)
					break
				}
			}
		}
	} else {
		for _, want := range in {
			if want.RR().Type != "" && want.RR().Data != "" {
				targets = append(targets, want)
			}
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	rrs := make([]dns.RR, 0, len(targets))
	for _, r := range targets {
		rr, err := p.toRR(zone, r)
		if err != nil {
			return nil, err
		}
		rrs = append(rrs, rr)
	}
	if err := p.update(ctx, zone, func(m *dns.Msg) { m.Remove(rrs) }); err != nil {
		return nil, err
	}
	out := make([]libdns.Record, len(targets))
	for i, r := range targets {
		out[i] = recs.Typed(r.RR())
	}
	return out, nil
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
