// Package digitalocean manages DNS records through the DigitalOcean API v2 (/v2/domains/{domain}/records)
// with a personal access token (bearer). The zone is the DigitalOcean domain.
package digitalocean

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/httpapi"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
)

// DefaultBaseURL is the DigitalOcean API endpoint.
const DefaultBaseURL = "https://api.digitalocean.com"

// Provider manages the domains of one DigitalOcean account.
type Provider struct {
	Token   string
	BaseURL string // DefaultBaseURL when empty
	HTTP    *http.Client
	MinWait time.Duration // first backoff after 429 (tests)
}

// New builds a Provider from the `dns digitalocean` block and DO_AUTH_TOKEN.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{Token: r.Required("auth_token", "DO_AUTH_TOKEN", "DIGITALOCEAN_TOKEN")}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

type domainRecord struct {
	ID   int64  `json:"id,omitempty"`
	Type string `json:"type"`
	Name string `json:"name"`
	Data string `json:"data"`
	TTL  int    `json:"ttl"`
}

type listReply struct {
	Records []domainRecord `json:"domain_records"`
	Links   struct {
		Pages struct {
			Next string `json:"next"`
		} `json:"pages"`
	} `json:"links"`
}

func (p *Provider) client() *httpapi.Client {
	base := p.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	return &httpapi.Client{Provider: "digitalocean", BaseURL: strings.TrimSuffix(base, "/"), HTTP: p.HTTP, MinWait: p.MinWait,
		Auth: func(req *http.Request, _ []byte) error {
			req.Header.Set("Authorization", "Bearer "+p.Token)
			return nil
		}}
}

func domainPath(zone string) string {
	return "/v2/domains/" + url.PathEscape(strings.ToLower(strings.TrimSuffix(zone, "."))) + "/records"
}

// list returns the domain's records, all or those with an absolute name and type, page by page.
func (p *Provider) list(ctx context.Context, zone, fqdn, typ string) ([]domainRecord, error) {
	var out []domainRecord
	for page := 1; ; page++ {
		q := url.Values{"page": {fmt.Sprint(page)}, "per_page": {"200"}}
		if fqdn != "" {
			q.Set("name", strings.TrimSuffix(fqdn, "."))
		}
		if typ != "" {
			q.Set("type", typ)
		}
		var reply listReply
		if err := p.client().Do(ctx, http.MethodGet, domainPath(zone)+"?"+q.Encode(), nil, &reply); err != nil {
			return nil, err
		}
		out = append(out, reply.Records...)
		if reply.Links.Pages.Next == "" || len(reply.Records) == 0 {
			return out, nil
		}
	}
}

func toLibdns(r domainRecord) libdns.Record {
	return recs.Typed(libdns.RR{Name: r.Name, TTL: time.Duration(r.TTL) * time.Second, Type: r.Type, Data: r.Data})
}

// GetRecords returns every record of the domain.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	all, err := p.list(ctx, zone, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]libdns.Record, 0, len(all))
	for _, r := range all {
		out = append(out, toLibdns(r))
	}
	return out, nil
}

// AppendRecords creates each record (TTL at least 30 s, DigitalOcean's minimum).
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	var out []libdns.Record
	for _, rec := range in {
		rr := rec.RR()
		body := domainRecord{Type: strings.ToUpper(rr.Type), Name: recs.Relative(recs.FQDN(rr.Name, zone), zone), Data: rr.Data,
			TTL: recs.TTLSeconds(rr.TTL, 30)}
		var reply struct {
			Record domainRecord `json:"domain_record"`
		}
		if err := p.client().Do(ctx, http.MethodPost, domainPath(zone), body, &reply); err != nil {
			return out, err
		}
		out = append(out, toLibdns(reply.Record))
	}
	return out, nil
}

// DeleteRecords deletes each matching record by id.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	var out []libdns.Record
	seen := map[int64]bool{}
	for _, want := range in {
		rr := want.RR()
		cur, err := p.list(ctx, zone, recs.FQDN(rr.Name, zone), strings.ToUpper(rr.Type))
		if err != nil {
			return out, err
		}
		for _, r := range cur {
			have := toLibdns(r)
			if seen[r.ID] || !recs.Matches(rr, have.RR(), zone) {
				continue
			}
			if err := p.client().Do(ctx, http.MethodDelete, fmt.Sprintf("%s/%d", domainPath(zone), r.ID), nil, nil); err != nil {
				return out, err
			}
			seen[r.ID] = true
			out = append(out, have)
		}
	}
	return out, nil
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
