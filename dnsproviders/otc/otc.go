// Package otc manages DNS records in Open Telekom Cloud: a Keystone v3 password authentication scoped to
// a project yields a token (X-Subject-Token) and the DNS endpoint from the service catalog; records are
// Designate v2 recordsets (/v2/zones/{id}/recordsets) changed with X-Auth-Token. An expired token is
// renewed once on 401.
package otc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// DefaultIdentityEndpoint is OTC's Keystone token endpoint (region eu-de).
const DefaultIdentityEndpoint = "https://iam.eu-de.otc.t-systems.com:443/v3/auth/tokens"

// Provider manages the zones of one OTC project.
type Provider struct {
	DomainName, UserName, Password, ProjectName string
	IdentityEndpoint                            string // the Keystone v3 /auth/tokens URL
	HTTP                                        *http.Client
	MinWait                                     time.Duration // first backoff after 429 (tests)

	mu      sync.Mutex // guards token and dnsURL; serializes read-modify-write of recordsets
	token   string
	dnsURL  string
	expires time.Time
}

// New builds a Provider from the `dns otc` block and OTC_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		DomainName:       r.Required("domain_name", "OTC_DOMAIN_NAME"),
		UserName:         r.Required("user_name", "OTC_USER_NAME"),
		Password:         r.Required("password", "OTC_PASSWORD"),
		ProjectName:      r.Required("project_name", "OTC_PROJECT_NAME"),
		IdentityEndpoint: r.Optional("identity_endpoint", DefaultIdentityEndpoint, "OTC_IDENTITY_ENDPOINT"),
	}
	if u, err := url.Parse(p.IdentityEndpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		r.Invalid("OTC_IDENTITY_ENDPOINT", "not an http(s) URL such as "+DefaultIdentityEndpoint)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// login gets a project-scoped token and the public DNS endpoint. p.mu is held.
func (p *Provider) login(ctx context.Context) error {
	if p.token != "" && time.Until(p.expires) > time.Minute {
		return nil
	}
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": p.UserName, "password": p.Password, "domain": map[string]string{"name": p.DomainName}}}},
		"scope": map[string]any{"project": map[string]string{"name": p.ProjectName}},
	}}
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.IdentityEndpoint, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("otc: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("otc: authenticating: %w", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("otc: authenticating as %s in domain %s: HTTP %d (check OTC_USER_NAME, OTC_PASSWORD, OTC_DOMAIN_NAME and OTC_PROJECT_NAME)",
			p.UserName, p.DomainName, resp.StatusCode)
	}
	var tok struct {
		Token struct {
			ExpiresAt time.Time `json:"expires_at"`
			Catalog   []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.Unmarshal(reply, &tok); err != nil {
		return fmt.Errorf("otc: decoding the token reply: %w", err)
	}
	p.token, p.expires, p.dnsURL = resp.Header.Get("X-Subject-Token"), tok.Token.ExpiresAt, ""
	for _, svc := range tok.Token.Catalog {
		for _, ep := range svc.Endpoints {
			if svc.Type == "dns" && ep.Interface == "public" {
				p.dnsURL = strings.TrimSuffix(ep.URL, "/")
			}
		}
	}
	if p.token == "" || p.dnsURL == "" {
		p.token = ""
		return errors.New("otc: the token reply has no token or no public dns endpoint in its catalog")
	}
	return nil
}

func (p *Provider) httpClient() *http.Client {
	if p.HTTP != nil {
		return p.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// do calls the DNS API (path relative to its endpoint, or an absolute next link), logging in first and
// again once after a 401. p.mu is held.
func (p *Provider) do(ctx context.Context, method, path string, in, out any) error {
	for attempt := 0; ; attempt++ {
		if err := p.login(ctx); err != nil {
			return err
		}
		c := &httpapi.Client{Provider: "otc", BaseURL: p.dnsURL, HTTP: p.HTTP, MinWait: p.MinWait,
			Auth: func(req *http.Request, _ []byte) error {
				req.Header.Set("X-Auth-Token", p.token)
				return nil
			}}
		if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
			c.BaseURL = ""
		}
		err := c.Do(ctx, method, path, in, out)
		var se *httpapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusUnauthorized && attempt == 0 {
			p.token = ""
			continue
		}
		return err
	}
}

type zone struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type recordset struct {
	ID      string   `json:"id,omitempty"`
	Name    string   `json:"name,omitempty"`
	Type    string   `json:"type,omitempty"`
	TTL     int      `json:"ttl,omitempty"`
	Records []string `json:"records"`
}

type links struct {
	Next string `json:"next"`
}

func (p *Provider) zoneID(ctx context.Context, name string) (string, error) {
	want := strings.ToLower(recs.Zone(name))
	var reply struct {
		Zones []zone `json:"zones"`
	}
	if err := p.do(ctx, http.MethodGet, "/v2/zones?name="+url.QueryEscape(want), nil, &reply); err != nil {
		return "", err
	}
	for _, z := range reply.Zones {
		if strings.EqualFold(z.Name, want) {
			return z.ID, nil
		}
	}
	return "", fmt.Errorf("otc: no zone named %s in project %s", want, p.ProjectName)
}

// sets lists recordsets of the zone (all, or those of a name and, if given, a type), following links.next.
func (p *Provider) sets(ctx context.Context, zoneID, name, typ string) ([]recordset, error) {
	path := "/v2/zones/" + url.PathEscape(zoneID) + "/recordsets"
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if typ != "" {
		q.Set("type", typ)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []recordset
	for path != "" {
		var reply struct {
			Recordsets []recordset `json:"recordsets"`
			Links      links       `json:"links"`
		}
		if err := p.do(ctx, http.MethodGet, path, nil, &reply); err != nil {
			return nil, err
		}
		for _, s := range reply.Recordsets {
			if (name == "" || strings.EqualFold(s.Name, name)) && (typ == "" || s.Type == typ) {
				out = append(out, s)
			}
		}
		path = reply.Links.Next
	}
	return out, nil
}

func toLibdns(zone string, s recordset, v string) libdns.Record {
	return recs.Read(zone, s.Name, s.Type, s.TTL, v)
}

// GetRecords returns every record of the zone.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	all, err := p.sets(ctx, id, "", "")
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, s := range all {
		for _, v := range s.Records {
			out = append(out, toLibdns(zone, s, v))
		}
	}
	return out, nil
}

// AppendRecords adds each record to its recordset (created when missing, else updated with PUT).
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, rec := range in {
		a := recs.NewAdd(zone, rec, 300)
		cur, err := p.sets(ctx, id, a.Name, a.Type)
		if err != nil {
			return out, err
		}
		base := "/v2/zones/" + url.PathEscape(id) + "/recordsets"
		if len(cur) == 0 {
			err = p.do(ctx, http.MethodPost, base, recordset{Name: a.Name, Type: a.Type, TTL: a.TTL, Records: []string{a.Value()}}, nil)
		} else {
			err = p.do(ctx, http.MethodPut, base+"/"+url.PathEscape(cur[0].ID), recordset{TTL: a.TTL, Records: recs.Merge(cur[0].Records, []string{a.Value()})}, nil)
		}
		if err != nil {
			return out, err
		}
		out = append(out, a.Result(zone))
	}
	return out, nil
}

// DeleteRecords removes the matching values, deleting recordsets left empty.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, want := range in {
		k := recs.KeyOf(want.RR(), zone)
		cur, err := p.sets(ctx, id, k.Name, k.Type)
		if err != nil {
			return out, err
		}
		for _, s := range cur {
			keep, removed, o := recs.Remove(zone, s.Records, []libdns.Record{want}, func(v string) libdns.Record { return toLibdns(zone, s, v) })
			out = append(out, removed...)
			path := "/v2/zones/" + url.PathEscape(id) + "/recordsets/" + url.PathEscape(s.ID)
			switch o {
			case recs.Emptied:
				err = p.do(ctx, http.MethodDelete, path, nil, nil)
			case recs.Shrunk:
				err = p.do(ctx, http.MethodPut, path, recordset{TTL: s.TTL, Records: keep}, nil)
			}
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
