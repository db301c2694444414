// Package gandiv5 manages DNS records through Gandi's LiveDNS API (v5: /v5/livedns/domains/{fqdn}/records),
// authenticated with a personal access token (Authorization: Bearer) or a legacy API key (Authorization:
// Apikey). LiveDNS stores RRsets, so appending and deleting read the RRset and write it back whole.
package gandiv5

import (
	"context"
	"errors"
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

// DefaultBaseURL is the LiveDNS v5 endpoint.
const DefaultBaseURL = "https://api.gandi.net/v5/livedns"

// Provider manages the LiveDNS domains of one Gandi account.
type Provider struct {
	Name                string // provider name for messages ("gandiv5" or "gandi")
	PersonalAccessToken string // sent as Bearer
	APIKey              string // legacy key, sent as Apikey
	BaseURL             string // DefaultBaseURL when empty
	HTTP                *http.Client
	MinWait             time.Duration // first backoff after 429 (tests)

	mu sync.Mutex // serializes read-modify-write of RRsets
}

// New builds a Provider from the `dns gandiv5` block and GANDIV5_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	return NewWithPrefix(c, "GANDIV5")
}

// NewWithPrefix builds a Provider whose variables start with prefix: PREFIX_PERSONAL_ACCESS_TOKEN or
// PREFIX_API_KEY.
func NewWithPrefix(c dnsconf.Config, prefix string) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		Name:                c.Provider,
		PersonalAccessToken: r.Optional("personal_access_token", "", prefix+"_PERSONAL_ACCESS_TOKEN"),
		APIKey:              r.Optional("api_key", "", prefix+"_API_KEY"),
	}
	if p.PersonalAccessToken == "" && p.APIKey == "" {
		r.Required("personal_access_token", prefix+"_PERSONAL_ACCESS_TOKEN", prefix+"_API_KEY")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

type rrset struct {
	Name   string   `json:"rrset_name,omitempty"`
	Type   string   `json:"rrset_type,omitempty"`
	TTL    int      `json:"rrset_ttl"`
	Values []string `json:"rrset_values"`
}

func (p *Provider) client() *httpapi.Client {
	base := p.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	name := p.Name
	if name == "" {
		name = "gandiv5"
	}
	return &httpapi.Client{Provider: name, BaseURL: strings.TrimSuffix(base, "/"), HTTP: p.HTTP, MinWait: p.MinWait,
		Auth: func(req *http.Request, _ []byte) error {
			if p.PersonalAccessToken != "" {
				req.Header.Set("Authorization", "Bearer "+p.PersonalAccessToken)
			} else {
				req.Header.Set("Authorization", "Apikey "+p.APIKey)
			}
			return nil
		}}
}

func recordsPath(zone string) string {
	return "/domains/" + url.PathEscape(strings.ToLower(strings.TrimSuffix(zone, "."))) + "/records"
}

func rrsetPath(zone, name, typ string) string {
	return recordsPath(zone) + "/" + url.PathEscape(name) + "/" + url.PathEscape(typ)
}

// get returns one RRset, or one with no values when there is none.
func (p *Provider) get(ctx context.Context, zone, name, typ string) (rrset, error) {
	var s rrset
	err := p.client().Do(ctx, http.MethodGet, rrsetPath(zone, name, typ), nil, &s)
	var se *httpapi.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		// an unknown domain is a 404 too: tell them apart
		if derr := p.client().Do(ctx, http.MethodGet, "/domains/"+url.PathEscape(strings.TrimSuffix(zone, ".")), nil, nil); derr != nil {
			return rrset{}, derr
		}
		return rrset{Name: name, Type: typ}, nil
	}
	return s, err
}

func toLibdns(s rrset, v string) libdns.Record {
	if s.Type == "TXT" {
		v = recs.UnquoteTXT(v)
	}
	return recs.Typed(libdns.RR{Name: s.Name, TTL: time.Duration(s.TTL) * time.Second, Type: s.Type, Data: v})
}

func value(typ, data string) string {
	if typ == "TXT" {
		return recs.QuoteTXT(data)
	}
	return data
}

// GetRecords returns every record of the domain, page by page until an empty one.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	var out []libdns.Record
	const per = 100
	for page := 1; ; page++ {
		var sets []rrset
		if err := p.client().Do(ctx, http.MethodGet, fmt.Sprintf("%s?page=%d&per_page=%d", recordsPath(zone), page, per), nil, &sets); err != nil {
			return nil, err
		}
		for _, s := range sets {
			for _, v := range s.Values {
				out = append(out, toLibdns(s, v))
			}
		}
		if len(sets) == 0 { // the server may serve fewer than per_page; only an empty page is the end
			return out, nil
		}
	}
}

// AppendRecords adds the records to their RRsets (PUT of the existing values plus the new ones; LiveDNS's
// minimum TTL is 300 s).
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []libdns.Record
	for _, rec := range in {
		rr := rec.RR()
		name, typ := recs.Relative(recs.FQDN(rr.Name, zone), zone), strings.ToUpper(rr.Type)
		cur, err := p.get(ctx, zone, name, typ)
		if err != nil {
			return out, err
		}
		v := value(typ, rr.Data)
		put := rrset{TTL: recs.TTLSeconds(rr.TTL, 300), Values: append(cur.Values, v)}
		if err := p.client().Do(ctx, http.MethodPut, rrsetPath(zone, name, typ), put, nil); err != nil {
			return out, err
		}
		out = append(out, toLibdns(rrset{Name: name, Type: typ, TTL: put.TTL}, v))
	}
	return out, nil
}

// DeleteRecords removes the matching values, deleting RRsets that become empty.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []libdns.Record
	for _, want := range in {
		rr := want.RR()
		name, typ := recs.Relative(recs.FQDN(rr.Name, zone), zone), strings.ToUpper(rr.Type)
		var sets []rrset
		if typ == "" { // any type: every RRset of the name
			if err := p.client().Do(ctx, http.MethodGet, recordsPath(zone)+"/"+url.PathEscape(name), nil, &sets); err != nil {
				var se *httpapi.StatusError
				if !errors.As(err, &se) || se.Status != http.StatusNotFound {
					return out, err
				}
			}
		} else {
			cur, err := p.get(ctx, zone, name, typ)
			if err != nil {
				return out, err
			}
			sets = []rrset{cur}
		}
		for _, cur := range sets {
			deleted, err := p.deleteFrom(ctx, zone, cur, rr)
			out = append(out, deleted...)
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// deleteFrom removes the values of cur matching want, deleting the RRset when none are left.
func (p *Provider) deleteFrom(ctx context.Context, zone string, cur rrset, want libdns.RR) ([]libdns.Record, error) {
	var keep []string
	var out []libdns.Record
	for _, v := range cur.Values {
		have := toLibdns(cur, v)
		if recs.Matches(want, have.RR(), zone) {
			out = append(out, have)
		} else {
			keep = append(keep, v)
		}
	}
	var err error
	switch {
	case len(keep) == len(cur.Values):
	case len(keep) == 0:
		err = p.client().Do(ctx, http.MethodDelete, rrsetPath(zone, cur.Name, cur.Type), nil, nil)
	default:
		err = p.client().Do(ctx, http.MethodPut, rrsetPath(zone, cur.Name, cur.Type), rrset{TTL: cur.TTL, Values: keep}, nil)
	}
	return out, err
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
