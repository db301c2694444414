// Package googlecloud manages DNS records in Google Cloud DNS (REST API v1, over plain HTTP) with a
// service account key (its JSON in GCE_SERVICE_ACCOUNT, or its path in GCE_SERVICE_ACCOUNT_FILE) or,
// without one, Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server). Record sets are changed with
// Changes (deletions must match the current set exactly), and each change is awaited until "done".
package googlecloud

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/gauth"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
)

// Provider manages the managed zones of one project.
type Provider struct {
	Project         string
	CredentialsJSON []byte        // a service account key; nil means Application Default Credentials
	Endpoint        string        // a different API endpoint (tests); https://dns.googleapis.com/ by default
	HTTP            *http.Client  // sends API and token requests; nil means a client with a 30 s timeout
	MinWait         time.Duration // first backoff after 429 (tests); 0 means 1 s

	once  sync.Once
	src   *gauth.Source
	err   error
	mu    sync.Mutex // serializes read-modify-write of record sets
	zones sync.Map   // zone name → managed zone name
}

// New builds a Provider from the `dns googlecloud` block and GCE_* / GOOGLE_APPLICATION_CREDENTIALS.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{Project: r.Optional("project", "", "GCE_PROJECT", "GOOGLE_CLOUD_PROJECT")}
	type key struct {
		Type      string `json:"type"`
		ProjectID string `json:"project_id"`
	}
	// GCE_SERVICE_ACCOUNT holds the key's JSON; GCE_SERVICE_ACCOUNT_FILE (the reader's X_FILE form) its path
	if js := r.Optional("service_account", "", "GCE_SERVICE_ACCOUNT"); js != "" {
		var k key
		if err := json.Unmarshal([]byte(js), &k); err != nil || k.Type != "service_account" {
			r.Invalid("GCE_SERVICE_ACCOUNT", "not a service account key (JSON with \"type\": \"service_account\")")
		} else {
			p.CredentialsJSON = []byte(js)
			p.Project = cmp.Or(p.Project, k.ProjectID)
		}
	} else if path, ok := c.Env("GOOGLE_APPLICATION_CREDENTIALS"); ok && path != "" {
		// Application Default Credentials read this file themselves; a service account key also names the project
		var k key
		if data, err := os.ReadFile(path); err != nil {
			r.Invalid("GOOGLE_APPLICATION_CREDENTIALS", "cannot read the credentials file: "+errors.Unwrap(err).Error())
		} else if json.Unmarshal(data, &k) == nil && k.Type == "service_account" {
			p.CredentialsJSON = data
			p.Project = cmp.Or(p.Project, k.ProjectID)
		}
	}
	if p.Project == "" {
		r.Required("project", "GCE_PROJECT")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// tokens returns the access token source: the service account key, or Application Default Credentials.
func (p *Provider) tokens() (*gauth.Source, error) {
	p.once.Do(func() {
		if p.CredentialsJSON != nil {
			p.src, p.err = gauth.FromJSON(p.CredentialsJSON, scope)
		} else {
			p.src, p.err = gauth.Default(nil, scope)
		}
		if p.err != nil {
			p.err = fmt.Errorf("credentials: %w", p.err)
			return
		}
		p.src.HTTP = p.HTTP
	})
	return p.src, p.err
}

// managedZone finds the public managed zone whose DNS name is zone.
func (p *Provider) managedZone(ctx context.Context, zone string) (string, error) {
	want := strings.ToLower(recs.Zone(zone))
	if v, ok := p.zones.Load(want); ok {
		return v.(string), nil
	}
	var found string
	q := url.Values{"dnsName": {want}}
	for {
		var page struct {
			Zones []managedZone `json:"managedZones"`
			Next  string        `json:"nextPageToken"`
		}
		if err := p.do(ctx, http.MethodGet, p.path(""), q, nil, &page); err != nil {
			return "", fmt.Errorf("googlecloud: finding the managed zone for %s: %w", zone, err)
		}
		for _, z := range page.Zones {
			if strings.EqualFold(z.DNSName, want) && (found == "" || z.Visibility != "private") {
				found = z.Name
			}
		}
		if page.Next == "" {
			break
		}
		q.Set("pageToken", page.Next)
	}
	if found == "" {
		return "", fmt.Errorf("googlecloud: no managed zone for %s in project %s", zone, p.Project)
	}
	p.zones.Store(want, found)
	return found, nil
}

func (p *Provider) sets(ctx context.Context, mz, name, typ string) ([]*rrSet, error) {
	var out []*rrSet
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
		if typ != "" {
			q.Set("type", typ)
		}
	}
	for {
		var page struct {
			Sets []*rrSet `json:"rrsets"`
			Next string   `json:"nextPageToken"`
		}
		if err := p.do(ctx, http.MethodGet, p.path(mz, "rrsets"), q, nil, &page); err != nil {
			return nil, fmt.Errorf("googlecloud: listing records: %w", err)
		}
		out = append(out, page.Sets...)
		if page.Next == "" {
			return out, nil
		}
		q.Set("pageToken", page.Next)
	}
}

// change submits c (retrying 429 and 5xx replies) and waits until it is done.
func (p *Provider) change(ctx context.Context, mz string, c *changeBody) error {
	wait := p.MinWait
	if wait == 0 {
		wait = time.Second
	}
	var done changeBody
	if err := p.do(ctx, http.MethodPost, p.path(mz, "changes"), nil, c, &done); err != nil {
		return fmt.Errorf("googlecloud: changing records: %w", err)
	}
	for done.Status != "done" {
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		id := done.ID
		done = changeBody{}
		if err := p.do(ctx, http.MethodGet, p.path(mz, "changes", id), nil, nil, &done); err != nil {
			return fmt.Errorf("googlecloud: waiting for change: %w", err)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func toLibdns(zone string, s *rrSet, v string) libdns.Record {
	if s.Type == "TXT" {
		v = recs.UnquoteTXT(v)
	}
	return recs.Typed(libdns.RR{Name: recs.Relative(s.Name, zone), TTL: time.Duration(s.TTL) * time.Second, Type: s.Type, Data: v})
}

// GetRecords returns every record of the zone.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	mz, err := p.managedZone(ctx, zone)
	if err != nil {
		return nil, err
	}
	all, err := p.sets(ctx, mz, "", "")
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, s := range all {
		for _, v := range s.Rrdatas {
			out = append(out, toLibdns(zone, s, v))
		}
	}
	return out, nil
}

// AppendRecords adds the records to their sets: one change deleting each current set and adding it back
// with the new values.
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	return p.modify(ctx, zone, in, true)
}

// DeleteRecords removes the matching values: one change deleting each affected set and adding back
// what remains.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	return p.modify(ctx, zone, in, false)
}

func (p *Provider) modify(ctx context.Context, zone string, in []libdns.Record, add bool) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mz, err := p.managedZone(ctx, zone)
	if err != nil {
		return nil, err
	}
	type pair struct{ old, new *rrSet }
	sets := map[string]*pair{}
	var order []string
	var out []libdns.Record
	for _, rec := range in {
		rr := rec.RR()
		name, typ := recs.FQDN(rr.Name, zone), strings.ToUpper(rr.Type)
		if typ == "" && add {
			return nil, errors.New("googlecloud: a record type is needed")
		}
		if typ == "" { // delete any type: every set of the name
			cur, err := p.sets(ctx, mz, name, "")
			if err != nil {
				return nil, err
			}
			for _, s := range cur {
				key := name + " " + s.Type
				if _, ok := sets[key]; !ok {
					sets[key] = &pair{old: s, new: &rrSet{Name: name, Type: s.Type, TTL: s.TTL, Rrdatas: append([]string(nil), s.Rrdatas...)}}
					order = append(order, key)
				}
				out = append(out, remove(zone, sets[key].new, rr)...)
			}
			continue
		}
		key := name + " " + typ
		ps, ok := sets[key]
		if !ok {
			cur, err := p.sets(ctx, mz, name, typ)
			if err != nil {
				return nil, err
			}
			ps = &pair{new: &rrSet{Name: name, Type: typ}}
			for _, s := range cur {
				if strings.EqualFold(s.Name, name) && s.Type == typ {
					ps.old = s
					ps.new.TTL, ps.new.Rrdatas = s.TTL, append([]string(nil), s.Rrdatas...)
				}
			}
			sets[key] = ps
			order = append(order, key)
		}
		if add {
			v := rr.Data
			if typ == "TXT" {
				v = recs.QuoteTXT(v)
			}
			ps.new.TTL = int64(recs.TTLSeconds(rr.TTL, 1))
			if rr.TTL == 0 {
				ps.new.TTL = 300
			}
			ps.new.Rrdatas = append(ps.new.Rrdatas, v)
			out = append(out, toLibdns(zone, ps.new, v))
			continue
		}
		out = append(out, remove(zone, ps.new, rr)...)
	}
	c := &changeBody{}
	for _, k := range order {
		ps := sets[k]
		if ps.old != nil && len(ps.old.Rrdatas) == len(ps.new.Rrdatas) && ps.old.TTL == ps.new.TTL {
			continue // unchanged
		}
		if ps.old != nil {
			c.Deletions = append(c.Deletions, ps.old)
		}
		if len(ps.new.Rrdatas) > 0 {
			c.Additions = append(c.Additions, ps.new)
		}
	}
	if len(c.Additions)+len(c.Deletions) == 0 {
		return out, nil
	}
	if err := p.change(ctx, mz, c); err != nil {
		return nil, err
	}
	return out, nil
}

// remove drops the values of set matching want and returns them as records.
func remove(zone string, set *rrSet, want libdns.RR) []libdns.Record {
	var keep []string
	var out []libdns.Record
	for _, v := range set.Rrdatas {
		have := toLibdns(zone, set, v)
		if recs.Matches(want, have.RR(), zone) {
			out = append(out, have)
		} else {
			keep = append(keep, v)
		}
	}
	set.Rrdatas = keep
	return out
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
