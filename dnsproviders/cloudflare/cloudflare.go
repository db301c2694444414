// Package cloudflare manages DNS records through the Cloudflare API v4 with scoped API tokens (bearer):
// a token with Zone:DNS:Edit, and optionally a separate token with Zone:Zone:Read for finding zones.
package cloudflare

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/httpapi"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
)

// DefaultBaseURL is the Cloudflare API v4 endpoint.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4"

// Provider manages the zones a token can reach.
type Provider struct {
	APIToken  string // Zone:DNS:Edit
	ZoneToken string // Zone:Zone:Read; APIToken when empty
	BaseURL   string // DefaultBaseURL when empty
	HTTP      *http.Client
	MinWait   time.Duration // first backoff after 429 (tests)

	mu    sync.Mutex
	zones map[string]string // zone name → id
}

// New builds a Provider from the `dns cloudflare` block and CLOUDFLARE_*/CF_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		APIToken:  r.Required("api_token", "CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN", "CLOUDFLARE_API_TOKEN"),
		ZoneToken: r.Optional("zone_token", "", "CLOUDFLARE_ZONE_API_TOKEN", "CF_ZONE_API_TOKEN"),
	}
	if strings.ContainsAny(p.APIToken, " \t") || strings.ContainsAny(p.ZoneToken, " \t") {
		r.Invalid("api_token", "a token has no spaces (give the token itself, without 'Bearer')")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// envelope is the v4 reply wrapper.
type envelope[T any] struct {
	Success    bool `json:"success"`
	Result     T    `json:"result"`
	ResultInfo struct {
		Page       int `json:"page"`
		TotalPages int `json:"total_pages"`
	} `json:"result_info"`
}

type zone struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type dnsRecord struct {
	ID      string `json:"id,omitempty"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
	TTL     int    `json:"ttl"`
}

func (p *Provider) client(token string) *httpapi.Client {
	base := p.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	return &httpapi.Client{Provider: "cloudflare", BaseURL: strings.TrimSuffix(base, "/"), HTTP: p.HTTP, MinWait: p.MinWait,
		Auth: func(req *http.Request, _ []byte) error {
			req.Header.Set("Authorization", "Bearer "+token)
			return nil
		}}
}

// zoneID finds the id of zone with the zone token, once.
func (p *Provider) zoneID(ctx context.Context, name string) (string, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	p.mu.Lock()
	id, ok := p.zones[name]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	token := p.ZoneToken
	if token == "" {
		token = p.APIToken
	}
	var reply envelope[[]zone]
	if err := p.client(token).Do(ctx, http.MethodGet, "/zones?name="+url.QueryEscape(name), nil, &reply); err != nil {
		return "", err
	}
	for _, z := range reply.Result {
		if strings.EqualFold(z.Name, name) {
			p.mu.Lock()
			if p.zones == nil {
				p.zones = map[string]string{}
			}
			p.zones[name] = z.ID
			p.mu.Unlock()
			return z.ID, nil
		}
	}
	return "", fmt.Errorf("cloudflare: zone %s not found (does the token have Zone:Zone:Read on it?)", name)
}

// list returns the zone's records, all or those of one name and type, following pagination.
func (p *Provider) list(ctx context.Context, zoneID, name, typ string) ([]dnsRecord, error) {
	var out []dnsRecord
	for page := 1; ; page++ {
		q := url.Values{"page": {fmt.Sprint(page)}, "per_page": {"100"}}
		if name != "" {
			q.Set("name", name)
		}
		if typ != "" {
			q.Set("type", typ)
		}
		var reply envelope[[]dnsRecord]
		if err := p.client(p.APIToken).Do(ctx, http.MethodGet, "/zones/"+zoneID+"/dns_records?"+q.Encode(), nil, &reply); err != nil {
			return nil, err
		}
		out = append(out, reply.Result...)
		if reply.ResultInfo.TotalPages <= page {
			return out, nil
		}
	}
}

func toLibdns(zone string, r dnsRecord) libdns.Record {
	data := r.Content
	if r.Type == "TXT" {
		data = recs.UnquoteTXT(data)
	}
	return recs.Typed(libdns.RR{Name: recs.Relative(r.Name, zone), TTL: time.Duration(r.TTL) * time.Second, Type: r.Type, Data: data})
}

// GetRecords returns every record of the zone.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	all, err := p.list(ctx, id, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]libdns.Record, 0, len(all))
	for _, r := range all {
		out = append(out, toLibdns(zone, r))
	}
	return out, nil
}

// AppendRecords creates each record.
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, rec := range in {
		rr := rec.RR()
		body := dnsRecord{Type: strings.ToUpper(rr.Type), Name: strings.TrimSuffix(recs.FQDN(rr.Name, zone), "."), Content: rr.Data,
			TTL: recs.TTLSeconds(rr.TTL, 60)}
		if rr.TTL == 0 {
			body.TTL = 1 // automatic
		}
		if body.Type == "TXT" {
			body.Content = recs.QuoteTXT(rr.Data)
		}
		var reply envelope[dnsRecord]
		if err := p.client(p.APIToken).Do(ctx, http.MethodPost, "/zones/"+id+"/dns_records", body, &reply); err != nil {
			return out, err
		}
		out = append(out, toLibdns(zone, reply.Result))
	}
	return out, nil
}

// DeleteRecords deletes each matching record by id.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	seen := map[string]bool{}
	for _, want := range in {
		rr := want.RR()
		cur, err := p.list(ctx, id, strings.TrimSuffix(recs.FQDN(rr.Name, zone), "."), strings.ToUpper(rr.Type))
		if err != nil {
			return out, err
		}
		for _, r := range cur {
			have := toLibdns(zone, r)
			if seen[r.ID] || !recs.Matches(rr, have.RR(), zone) {
				continue
			}
			if err := p.client(p.APIToken).Do(ctx, http.MethodDelete, "/zones/"+id+"/dns_records/"+url.PathEscape(r.ID), nil, nil); err != nil {
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
