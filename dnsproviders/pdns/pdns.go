// Package pdns manages DNS records through the PowerDNS Authoritative Server HTTP API (version 1:
// /api/v1/servers/{server_id}/zones/{zone_id}, authenticated with X-API-Key). PowerDNS replaces whole
// RRsets, so appending and deleting read the RRset first and write it back.
package pdns

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/httpapi"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
)

// Provider talks to one PowerDNS server.
type Provider struct {
	APIURL   string // e.g. http://127.0.0.1:8081 (with or without /api/v1)
	APIKey   string
	ServerID string // "localhost" when empty
	HTTP     *http.Client

	mu sync.Mutex // serializes read-modify-write of RRsets
}

// New builds a Provider from the `dns pdns` block and PDNS_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		APIURL:   r.Required("api_url", "PDNS_API_URL"),
		APIKey:   r.Required("api_key", "PDNS_API_KEY"),
		ServerID: r.Optional("server_id", "localhost", "PDNS_SERVER_ID"),
	}
	if p.APIURL != "" {
		if u, err := url.Parse(p.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Invalid("PDNS_API_URL", "not an http(s) URL such as http://127.0.0.1:8081")
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

type rrset struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	TTL        int      `json:"ttl,omitempty"`
	ChangeType string   `json:"changetype,omitempty"`
	Records    []record `json:"records"`
}

type record struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

func recordContent(r record) string { return r.Content }

func newRecord(content string) record { return record{Content: content} }

type zoneReply struct {
	RRsets []rrset `json:"rrsets"`
}

func (p *Provider) client() *httpapi.Client {
	base := strings.TrimSuffix(p.APIURL, "/")
	base = strings.TrimSuffix(base, "/api/v1")
	return &httpapi.Client{Provider: "pdns", BaseURL: base, HTTP: p.HTTP,
		Auth: func(req *http.Request, _ []byte) error {
			req.Header.Set("X-API-Key", p.APIKey)
			return nil
		}}
}

func (p *Provider) zonePath(zone string) string {
	sid := p.ServerID
	if sid == "" {
		sid = "localhost"
	}
	id := strings.ReplaceAll(recs.Zone(zone), "/", "=2F")
	return "/api/v1/servers/" + url.PathEscape(sid) + "/zones/" + url.PathEscape(id)
}

func (p *Provider) zone(ctx context.Context, zone string) ([]rrset, error) {
	var z zoneReply
	if err := p.client().Do(ctx, http.MethodGet, p.zonePath(zone)+"?rrsets=true", nil, &z); err != nil {
		return nil, err
	}
	return z.RRsets, nil
}

func (p *Provider) patch(ctx context.Context, zone string, sets []rrset) error {
	if len(sets) == 0 {
		return nil
	}
	return p.client().Do(ctx, http.MethodPatch, p.zonePath(zone), map[string]any{"rrsets": sets}, nil)
}

func toLibdns(zone string, s rrset, r record) libdns.Record {
	return recs.Read(zone, s.Name, s.Type, s.TTL, r.Content)
}

func find(sets []rrset, name, typ string) (rrset, bool) {
	for _, s := range sets {
		if strings.EqualFold(s.Name, name) && strings.EqualFold(s.Type, typ) {
			return s, true
		}
	}
	return rrset{}, false
}

// GetRecords returns the zone's records (SOA and NS included, as PowerDNS lists them).
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	sets, err := p.zone(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, s := range sets {
		for _, r := range s.Records {
			out = append(out, toLibdns(zone, s, r))
		}
	}
	return out, nil
}

// AppendRecords adds records to their RRsets, keeping the records already there.
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sets, err := p.zone(ctx, zone)
	if err != nil {
		return nil, err
	}
	groups, out := recs.Groups(zone, in, 60)
	patch := make([]rrset, 0, len(groups))
	for _, g := range groups {
		cur, _ := find(sets, g.Name, g.Type)
		patch = append(patch, rrset{Name: g.Name, Type: g.Type, TTL: g.TTL, ChangeType: "REPLACE",
			Records: recs.MergeFunc(cur.Records, g.Values, recordContent, newRecord)})
	}
	if err := p.patch(ctx, zone, patch); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRecords removes the matching records, deleting RRsets that become empty.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sets, err := p.zone(ctx, zone)
	if err != nil {
		return nil, err
	}
	var patch []rrset
	var out []libdns.Record
	for _, s := range sets {
		keep, removed, o := recs.Remove(zone, s.Records, in, func(r record) libdns.Record { return toLibdns(zone, s, r) })
		out = append(out, removed...)
		switch o {
		case recs.Emptied:
			patch = append(patch, rrset{Name: s.Name, Type: s.Type, ChangeType: "DELETE", Records: []record{}})
		case recs.Shrunk:
			patch = append(patch, rrset{Name: s.Name, Type: s.Type, TTL: s.TTL, ChangeType: "REPLACE", Records: keep})
		}
	}
	if err := p.patch(ctx, zone, patch); err != nil {
		return nil, err
	}
	return out, nil
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
