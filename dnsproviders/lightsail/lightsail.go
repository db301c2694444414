// Package lightsail manages DNS records of Amazon Lightsail domains (Lightsail API 2016-11-28, JSON 1.1,
// region us-east-1) with aws-sdk-go-v2. Lightsail entries have no TTL. DNS_ZONE names the Lightsail
// domain when it differs from the zone found in DNS.
package lightsail

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	ls "github.com/aws/aws-sdk-go-v2/service/lightsail"
	"github.com/aws/aws-sdk-go-v2/service/lightsail/types"
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

	retryer func() aws.Retryer // tests: fast retries

	once   sync.Once
	client *ls.Client
	err    error
}

// New builds a Provider from the `dns lightsail` block and AWS_* / DNS_ZONE variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		Credentials: awsconf.Read(r, "us-east-1"),
		Domain:      strings.TrimSuffix(r.Optional("zone", "", "DNS_ZONE"), "."),
		Endpoint:    r.Optional("endpoint", "", "AWS_ENDPOINT_URL_LIGHTSAIL"),
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Provider) api(ctx context.Context) (*ls.Client, error) {
	p.once.Do(func() {
		cfg, err := p.Credentials.Load(ctx, "lightsail")
		if err != nil {
			p.err = err
			return
		}
		p.client = ls.NewFromConfig(cfg, func(o *ls.Options) {
			if p.Endpoint != "" {
				o.BaseEndpoint = aws.String(p.Endpoint)
			}
			if p.retryer != nil {
				o.Retryer = p.retryer()
			}
		})
	})
	return p.client, p.err
}

func (p *Provider) domain(zone string) string {
	if p.Domain != "" {
		return p.Domain
	}
	return strings.ToLower(strings.TrimSuffix(zone, "."))
}

func toLibdns(zone string, e types.DomainEntry) libdns.Record {
	typ, v := aws.ToString(e.Type), aws.ToString(e.Target)
	if typ == "TXT" {
		v = recs.UnquoteTXT(v)
	}
	return recs.Typed(libdns.RR{Name: recs.Relative(aws.ToString(e.Name), zone), Type: typ, Data: v})
}

func (p *Provider) entries(ctx context.Context, c *ls.Client, zone string) ([]types.DomainEntry, error) {
	out, err := c.GetDomain(ctx, &ls.GetDomainInput{DomainName: aws.String(p.domain(zone))})
	if err != nil {
		return nil, wrap("reading domain "+p.domain(zone), err)
	}
	if out.Domain == nil {
		return nil, nil
	}
	return out.Domain.DomainEntries, nil
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
	c, err := p.api(ctx)
	if err != nil {
		return nil, err
	}
	all, err := p.entries(ctx, c, zone)
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
	c, err := p.api(ctx)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, rec := range in {
		rr := rec.RR()
		typ := strings.ToUpper(rr.Type)
		target := rr.Data
		if typ == "TXT" {
			target = recs.QuoteTXT(rr.Data)
		}
		e := types.DomainEntry{Name: aws.String(strings.TrimSuffix(recs.FQDN(rr.Name, zone), ".")), Type: aws.String(typ), Target: aws.String(target)}
		if _, err := c.CreateDomainEntry(ctx, &ls.CreateDomainEntryInput{DomainName: aws.String(p.domain(zone)), DomainEntry: &e}); err != nil {
			return out, wrap("creating an entry", err)
		}
		out = append(out, toLibdns(zone, e))
	}
	return out, nil
}

// DeleteRecords deletes the matching domain entries (TTLs are ignored: Lightsail has none).
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	c, err := p.api(ctx)
	if err != nil {
		return nil, err
	}
	all, err := p.entries(ctx, c, zone)
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
			if _, err := c.DeleteDomainEntry(ctx, &ls.DeleteDomainEntryInput{DomainName: aws.String(p.domain(zone)), DomainEntry: &e}); err != nil {
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
