// Package auroradns manages DNS records through the PCextreme Aurora DNS API (/zones,
// /zones/{id}/records), whose requests are signed with HMAC-SHA256: the header X-AuroraDNS-Date carries
// the time and Authorization is "AuroraDNSv1 " + base64(userID ":" base64(HMAC(key, method+path+time))).
package auroradns

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

// DefaultEndpoint is Aurora DNS's API.
const DefaultEndpoint = "https://api.auroradns.eu"

// Provider manages the zones of one Aurora DNS user.
type Provider struct {
	UserID, Key string
	Endpoint    string // DefaultEndpoint when empty
	HTTP        *http.Client
	MinWait     time.Duration // first backoff after 429 (tests)

	zones sync.Map // zone name → id
}

// New builds a Provider from the `dns auroradns` block and AURORA_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		UserID:   r.Required("user_id", "AURORA_USER_ID", "AURORA_API_KEY"),
		Key:      r.Required("key", "AURORA_KEY", "AURORA_SECRET"),
		Endpoint: r.Optional("endpoint", DefaultEndpoint, "AURORA_ENDPOINT"),
	}
	if u, err := url.Parse(p.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		r.Invalid("AURORA_ENDPOINT", "not an http(s) URL such as "+DefaultEndpoint)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Sign computes the Authorization value for a request made at t.
func Sign(userID, key, method, path string, t time.Time) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(method + path + t.UTC().Format("20060102T150405Z")))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return "AuroraDNSv1 " + base64.StdEncoding.EncodeToString([]byte(userID+":"+sig))
}

type zone struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type record struct {
	ID      string `json:"id,omitempty"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
	TTL     int    `json:"ttl,omitempty"`
}

func (p *Provider) client() *httpapi.Client {
	base := p.Endpoint
	if base == "" {
		base = DefaultEndpoint
	}
	return &httpapi.Client{Provider: "auroradns", BaseURL: strings.TrimSuffix(base, "/"), HTTP: p.HTTP, MinWait: p.MinWait,
		Auth: func(req *http.Request, _ []byte) error {
			now := time.Now()
			req.Header.Set("X-AuroraDNS-Date", now.UTC().Format("20060102T150405Z"))
			req.Header.Set("Authorization", Sign(p.UserID, p.Key, req.Method, req.URL.Path, now))
			return nil
		}}
}

func (p *Provider) zoneID(ctx context.Context, name string) (string, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if id, ok := p.zones.Load(name); ok {
		return id.(string), nil
	}
	var zones []zone
	if err := p.client().Do(ctx, http.MethodGet, "/zones", nil, &zones); err != nil {
		return "", err
	}
	for _, z := range zones {
		if strings.EqualFold(strings.TrimSuffix(z.Name, "."), name) {
			p.zones.Store(name, z.ID)
			return z.ID, nil
		}
	}
	return "", &httpapi.StatusError{Provider: "auroradns", Method: http.MethodGet, Path: "/zones", Status: http.StatusNotFound,
		Message: "no zone named " + name + " in this account"}
}

func (p *Provider) list(ctx context.Context, id string) ([]record, error) {
	var out []record
	err := p.client().Do(ctx, http.MethodGet, "/zones/"+url.PathEscape(id)+"/records", nil, &out)
	return out, err
}

func toLibdns(r record) libdns.Record {
	name := r.Name
	if name == "" {
		name = "@"
	}
	return recs.Typed(libdns.RR{Name: name, TTL: time.Duration(r.TTL) * time.Second, Type: r.Type, Data: r.Content})
}

// GetRecords returns every record of the zone.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	all, err := p.list(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]libdns.Record, 0, len(all))
	for _, r := range all {
		out = append(out, toLibdns(r))
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
		name := recs.Relative(recs.FQDN(rr.Name, zone), zone)
		if name == "@" {
			name = ""
		}
		body := record{Type: strings.ToUpper(rr.Type), Name: name, Content: rr.Data, TTL: recs.TTLSeconds(rr.TTL, 1)}
		if rr.TTL == 0 {
			body.TTL = 300
		}
		var created record
		if err := p.client().Do(ctx, http.MethodPost, "/zones/"+url.PathEscape(id)+"/records", body, &created); err != nil {
			return out, err
		}
		out = append(out, toLibdns(created))
	}
	return out, nil
}

// DeleteRecords deletes each matching record by id.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	all, err := p.list(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, r := range all {
		have := toLibdns(r)
		for _, want := range in {
			if !recs.Matches(want.RR(), have.RR(), zone) {
				continue
			}
			if err := p.client().Do(ctx, http.MethodDelete, "/zones/"+url.PathEscape(id)+"/records/"+url.PathEscape(r.ID), nil, nil); err != nil {
				return out, err
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
