// Package lightsail manages DNS records of Amazon Lightsail domains (Lightsail API 2016-11-28, JSON 1.1,
// region AWS_REGION, us-east-1 by default) over plain HTTP with SigV4 signing. Lightsail entries have no TTL. DNS_ZONE names the Lightsail
// domain when it differs from the zone found in DNS.
package lightsail

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/awsconf"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
)

// Provider manages the Lightsail domains of one AWS account.
type Provider struct {
	awsconf.Credentials
	Domain   string // DNS_ZONE: the Lightsail domain; the zone given to each call when empty
	Endpoint string // a different API endpoint (tests)

	minWait time.Duration // tests: fast retries

	once   sync.Once
	client *awsconf.Client
}

// domainEntry is a Lightsail DomainEntry (API 2016-11-28).
type domainEntry struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name"`
	Target  string `json:"target"`
	Type    string `json:"type"`
	IsAlias *bool  `json:"isAlias,omitempty"`
}

type domainRequest struct {
	DomainName  string       `json:"domainName"`
	DomainEntry *domainEntry `json:"domainEntry,omitempty"`
}

// New builds a Provider from the `dns lightsail` block and AWS_* / DNS_ZONE variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		Credentials: awsconf.Read(r, "us-east-1"),
		Domain:      strings.TrimSuffix(r.Optional("zone", "", "DNS_ZONE"), "."),
		Endpoint:    r.Optional("endpoint", "", "AWS_ENDPOINT_URL_LIGHTSAIL", "AWS_ENDPOINT_URL"),
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Provider) api() *awsconf.Client {
	p.once.Do(func() {
		region := p.Region
		if region == "" {
			region = "us-east-1"
		}
		endpoint := "https://lightsail." + region + ".amazonaws.com"
		if p.Endpoint != "" {
			endpoint = strings.TrimSuffix(p.Endpoint, "/")
		}
		p.client = &awsconf.Client{Provider: "lightsail", Service: "lightsail", Region: region, Endpoint: endpoint,
			Creds: p.Credentials, MinWait: p.minWait}
	})
	return p.client
}

// call posts one JSON 1.1 operation and decodes the reply into out (when not nil).
func (p *Provider) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"Lightsail_20161128." + op}}
	data, err := p.api().Do(ctx, op, http.MethodPost, "/", hdr, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(data, out)
}

func (p *Provider) domain(zone string) string {
	if p.Domain != "" {
		return p.Domain
	}
	return strings.ToLower(strings.TrimSuffix(zone, "."))
}

func toLibdns(zone string, e domainEntry) libdns.Record {
	typ, v := e.Type, e.Target
	if typ == "TXT" {
		v = recs.UnquoteTXT(v)
	}
	return recs.Typed(libdns.RR{Name: recs.Relative(e.Name, zone), Type: typ, Data: v})
}

func (p *Provider) entries(ctx context.Context, zone string) ([]domainEntry, error) {
	var out struct {
		Domain *struct {
			Entries []domainEntry `json:"domainEntries"`
		} `json:"domain"`
	}
	if err := p.call(ctx, "GetDomain", domainRequest{DomainName: p.domain(zone)}, &out); err != nil {
		return nil, wrap("reading domain "+p.domain(zone), err)
	}
	if out.Domain == nil {
		return nil, nil
	}
	return out.Domain.Entries, nil
}

func wrap(action string, err error) error {
	return &opError{action: action, err: err}
}

type opError struct {
	action string
	err    error
}

func (e *opError) Error() string { return "lightsail: " + e.action + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// GetRecords returns the domain's entries (without TTLs: Lightsail has none).
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	all, err := p.entries(ctx, zone)
	if err != nil {
		return nil, err
	}
	out := make([]libdns.Record, 0, len(all))
	for _, e := range all {
		out = append(out, toLibdns(zone, e))
	}
	return out, nil
}

// AppendRecords creates one domain entry per record.
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	var out []libdns.Record
	for _, rec := range in {
		rr := rec.RR()
		typ := strings.ToUpper(rr.Type)
		target := rr.Data
		if typ == "TXT" {
			target = recs.QuoteTXT(rr.Data)
		}
		e := domainEntry{Name: strings.TrimSuffix(recs.FQDN(rr.Name, zone), "."), Type: typ, Target: target}
		if err := p.call(ctx, "CreateDomainEntry", domainRequest{DomainName: p.domain(zone), DomainEntry: &e}, nil); err != nil {
			return out, wrap("creating an entry", err)
		}
		out = append(out, toLibdns(zone, e))
	}
	return out, nil
}

// DeleteRecords deletes the matching domain entries (TTLs are ignored: Lightsail has none).
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	all, err := p.entries(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, e := range all {
		have := toLibdns(zone, e)
		for _, want := range in {
			w := want.RR()
			w.TTL = 0
			if !recs.Matches(w, have.RR(), zone) {
				continue
			}
			if err := p.call(ctx, "DeleteDomainEntry", domainRequest{DomainName: p.domain(zone), DomainEntry: &e}, nil); err != nil {
				return out, wrap("deleting an entry", err)
			}
			out = append(out, have)
			break
		}
	}
	return out, nil
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
