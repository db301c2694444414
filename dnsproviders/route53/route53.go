// Package route53 manages DNS records in Amazon Route 53 (REST/XML API version 2013-04-01) over plain
// HTTP with SigV4 signing. Credentials come from the block or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (each also as _FILE), or else from the default chain: AWS_PROFILE in the shared files, a web identity
// token, a container or instance role.
package route53

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/awsconf"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
)

// Provider manages records in the hosted zones of one AWS account.
type Provider struct {
	awsconf.Credentials        // empty: the default credential chain
	HostedZoneID        string // skip the zone lookup
	Endpoint            string // a different API endpoint (tests, FIPS)
	// WaitForSync waits until Route 53 reports a change INSYNC (at most MaxWait, default 2 minutes).
	WaitForSync bool
	MaxWait     time.Duration

	minWait time.Duration // tests: fast retries

	once   sync.Once
	client *awsconf.Client
	mu     sync.Mutex // serializes read-modify-write of record sets
}

// New builds a Provider from the `dns route53` block and AWS_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		Credentials:  awsconf.Read(r, "us-east-1"),
		HostedZoneID: r.Optional("hosted_zone_id", "", "AWS_HOSTED_ZONE_ID"),
		Endpoint:     r.Optional("endpoint", "", "AWS_ENDPOINT_URL_ROUTE_53", "AWS_ENDPOINT_URL"),
	}
	wait := r.Optional("wait_for_sync", "true", "AWS_WAIT_FOR_SYNC")
	if b, err := strconv.ParseBool(wait); err == nil {
		p.WaitForSync = b
	} else {
		r.Invalid("wait_for_sync", "expected true or false")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// api returns the signing client: Route 53 is global, signed in the partition's home region.
func (p *Provider) api() *awsconf.Client {
	p.once.Do(func() {
		endpoint, region := "https://route53.amazonaws.com", "us-east-1"
		switch {
		case strings.HasPrefix(p.Region, "cn-"):
			endpoint, region = "https://route53.amazonaws.com.cn", "cn-northwest-1"
		case strings.HasPrefix(p.Region, "us-gov-"):
			endpoint, region = "https://route53.us-gov.amazonaws.com", "us-gov-west-1"
		}
		if p.Endpoint != "" {
			endpoint = strings.TrimSuffix(p.Endpoint, "/")
		}
		p.client = &awsconf.Client{Provider: "route53", Service: "route53", Region: region, Endpoint: endpoint,
			Creds: p.Credentials, MinWait: p.minWait}
	})
	return p.client
}

// zoneID finds the hosted zone named zone (a public one when a private one has the same name).
func (p *Provider) zoneID(ctx context.Context, zone string) (string, error) {
	if p.HostedZoneID != "" {
		return strings.TrimPrefix(p.HostedZoneID, "/hostedzone/"), nil
	}
	want := strings.ToLower(recs.Zone(zone))
	var found string
	name, next := want, ""
	for {
		out, err := p.listZones(ctx, name, next)
		if err != nil {
			return "", fmt.Errorf("route53: finding hosted zone %s: %w", zone, err)
		}
		for _, z := range out.Zones {
			if strings.ToLower(z.Name) != want {
				continue
			}
			if found == "" || !z.Private {
				found = strings.TrimPrefix(z.ID, "/hostedzone/")
			}
		}
		if !out.IsTruncated || out.NextDNSName == "" || strings.ToLower(out.NextDNSName) != want {
			break
		}
		name, next = out.NextDNSName, out.NextZoneID
	}
	if found == "" {
		return "", fmt.Errorf("route53: no hosted zone named %s in this account (set AWS_HOSTED_ZONE_ID if it has another name)", zone)
	}
	return found, nil
}

// sets lists record sets, all of them (name == "") or those with the given name and type.
func (p *Provider) sets(ctx context.Context, zoneID, name, typ string) ([]rrSet, error) {
	startName, startType, startID := name, typ, ""
	var out []rrSet
	for {
		page, err := p.listSets(ctx, zoneID, startName, startType, startID)
		if err != nil {
			return nil, fmt.Errorf("route53: listing records: %w", err)
		}
		for _, s := range page.Sets {
			if name != "" && (!strings.EqualFold(unescape(s.Name), name) || s.Type != typ) {
				return out, nil // sorted by name and type: past the wanted set
			}
			out = append(out, s)
		}
		if !page.IsTruncated {
			return out, nil
		}
		startName, startType, startID = page.NextName, page.NextType, page.NextID
	}
}

// unescape undoes Route 53's octal escaping of names (\052 for *).
func unescape(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, `\052`, "*"))
}

func toLibdns(zone string, s rrSet, v string) libdns.Record {
	var ttl int64
	if s.TTL != nil {
		ttl = *s.TTL
	}
	return recs.Read(zone, unescape(s.Name), s.Type, int(ttl), v)
}

func rrValue(r resourceRecord) string { return r.Value }

func newRR(v string) resourceRecord { return resourceRecord{Value: v} }

// change submits changes and, with WaitForSync, waits until they are INSYNC.
func (p *Provider) change(ctx context.Context, zoneID string, changes []change) error {
	if len(changes) == 0 {
		return nil
	}
	out, err := p.submit(ctx, zoneID, changes)
	if err != nil {
		return fmt.Errorf("route53: changing records: %w", err)
	}
	if !p.WaitForSync || out.ID == "" {
		return nil
	}
	maxWait := p.MaxWait
	if maxWait == 0 {
		maxWait = 2 * time.Minute
	}
	if err := p.waitInSync(ctx, out.ID, maxWait); err != nil {
		return fmt.Errorf("route53: waiting for change to be INSYNC: %w", err)
	}
	return nil
}

// GetRecords returns every record of the zone.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	sets, err := p.sets(ctx, id, "", "")
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, s := range sets {
		for _, rr := range s.ResourceRecords {
			out = append(out, toLibdns(zone, s, rr.Value))
		}
	}
	return out, nil
}

// AppendRecords adds the records to their record sets (UPSERT of the existing values plus the new ones).
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	groups, out := recs.Groups(zone, in, 300)
	changes := make([]change, 0, len(groups))
	for _, g := range groups {
		cur, err := p.sets(ctx, id, g.Name, g.Type)
		if err != nil {
			return nil, err
		}
		ttl := int64(g.TTL)
		s := &rrSet{Name: g.Name, Type: g.Type, TTL: &ttl}
		if len(cur) > 0 {
			s.ResourceRecords = cur[0].ResourceRecords
		}
		s.ResourceRecords = recs.MergeFunc(s.ResourceRecords, g.Values, rrValue, newRR)
		changes = append(changes, change{Action: "UPSERT", Set: s})
	}
	if err := p.change(ctx, id, changes); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRecords removes the matching records: a record set left empty is deleted (with its exact current
// content, as Route 53 requires), others are replaced by what remains.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var changes []change
	var out []libdns.Record
	done := map[string]bool{}
	for _, want := range in {
		k := recs.KeyOf(want.RR(), zone)
		name, typ := k.Name, k.Type
		if done[name+" "+typ] {
			continue
		}
		done[name+" "+typ] = true
		var cur []rrSet
		if typ == "" { // any type: scan the zone for the name
			all, err := p.sets(ctx, id, "", "")
			if err != nil {
				return nil, err
			}
			for _, s := range all {
				if unescape(s.Name) == name && !done[name+" "+s.Type] {
					done[name+" "+s.Type] = true
					cur = append(cur, s)
				}
			}
		} else if cur, err = p.sets(ctx, id, name, typ); err != nil {
			return nil, err
		}
		for _, s := range cur {
			ch, deleted := remaining(zone, s, in)
			out = append(out, deleted...)
			if ch != nil {
				changes = append(changes, *ch)
			}
		}
	}
	if err := p.change(ctx, id, changes); err != nil {
		return nil, err
	}
	return out, nil
}

// remaining applies the deletions in to set s: it returns the change to submit (nil when nothing matches)
// and the deleted records.
func remaining(zone string, s rrSet, in []libdns.Record) (*change, []libdns.Record) {
	keep, deleted, o := recs.Remove(zone, s.ResourceRecords, in, func(v resourceRecord) libdns.Record { return toLibdns(zone, s, v.Value) })
	switch o {
	case recs.Emptied:
		return &change{Action: "DELETE", Set: &s}, deleted
	case recs.Shrunk:
		s.ResourceRecords = keep
		return &change{Action: "UPSERT", Set: &s}, deleted
	}
	return nil, nil
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
