// Package route53 manages DNS records in Amazon Route 53 (API version 2013-04-01) with aws-sdk-go-v2.
// Credentials come from the block or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (each also as _FILE), or
// else from the SDK's default chain (AWS_PROFILE, shared files, instance or container roles).
package route53

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/awsconf"
	"github.com/casketserver/casket/dnsproviders/internal/recs"
	"github.com/libdns/libdns"
)

// Provider manages records in the hosted zones of one AWS account.
type Provider struct {
	awsconf.Credentials        // empty: the SDK's default credential chain
	HostedZoneID        string // skip the zone lookup
	Endpoint            string // a different API endpoint (tests, FIPS)
	// WaitForSync waits until Route 53 reports a change INSYNC (at most MaxWait, default 2 minutes).
	WaitForSync bool
	MaxWait     time.Duration

	retryer func() aws.Retryer // tests: fast retries

	once   sync.Once
	client *r53.Client
	err    error
	mu     sync.Mutex // serializes read-modify-write of record sets
}

// New builds a Provider from the `dns route53` block and AWS_* variables.
func New(c dnsconf.Config) (*Provider, error) {
	r := c.Reader()
	p := &Provider{
		Credentials:  awsconf.Read(r, "us-east-1"),
		HostedZoneID: r.Optional("hosted_zone_id", "", "AWS_HOSTED_ZONE_ID"),
		Endpoint:     r.Optional("endpoint", "", "AWS_ENDPOINT_URL_ROUTE_53"),
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

func (p *Provider) api(ctx context.Context) (*r53.Client, error) {
	p.once.Do(func() {
		cfg, err := p.Credentials.Load(ctx, "route53")
		if err != nil {
			p.err = err
			return
		}
		p.client = r53.NewFromConfig(cfg, func(o *r53.Options) {
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

// zoneID finds the hosted zone named zone (a public one when a private one has the same name).
func (p *Provider) zoneID(ctx context.Context, c *r53.Client, zone string) (string, error) {
	if p.HostedZoneID != "" {
		return p.HostedZoneID, nil
	}
	want := strings.ToLower(recs.Zone(zone))
	var found string
	in := &r53.ListHostedZonesByNameInput{DNSName: aws.String(want)}
	for {
		out, err := c.ListHostedZonesByName(ctx, in)
		if err != nil {
			return "", fmt.Errorf("route53: finding hosted zone %s: %w", zone, err)
		}
		for _, z := range out.HostedZones {
			if strings.ToLower(aws.ToString(z.Name)) != want {
				continue
			}
			if found == "" || (z.Config != nil && !z.Config.PrivateZone) {
				found = strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/")
			}
		}
		if !out.IsTruncated || out.NextDNSName == nil || strings.ToLower(aws.ToString(out.NextDNSName)) != want {
			break
		}
		in.DNSName, in.HostedZoneId = out.NextDNSName, out.NextHostedZoneId
	}
	if found == "" {
		return "", fmt.Errorf("route53: no hosted zone named %s in this account (set AWS_HOSTED_ZONE_ID if it has another name)", zone)
	}
	return found, nil
}

// sets lists record sets, all of them (name == "") or those with the given name and type.
func (p *Provider) sets(ctx context.Context, c *r53.Client, zoneID, name, typ string) ([]types.ResourceRecordSet, error) {
	in := &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)}
	if name != "" {
		in.StartRecordName, in.StartRecordType = aws.String(name), types.RRType(typ)
	}
	var out []types.ResourceRecordSet
	for {
		page, err := c.ListResourceRecordSets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("route53: listing records: %w", err)
		}
		for _, s := range page.ResourceRecordSets {
			if name != "" && (!strings.EqualFold(unescape(aws.ToString(s.Name)), name) || string(s.Type) != typ) {
				return out, nil // sorted by name and type: past the wanted set
			}
			out = append(out, s)
		}
		if !page.IsTruncated {
			return out, nil
		}
		in.StartRecordName, in.StartRecordType, in.StartRecordIdentifier = page.NextRecordName, page.NextRecordType, page.NextRecordIdentifier
	}
}

// unescape undoes Route 53's octal escaping of names (\052 for *).
func unescape(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, `\052`, "*"))
}

func value(typ, data string) string {
	if typ == "TXT" {
		return recs.QuoteTXT(data)
	}
	return data
}

func toLibdns(zone string, s types.ResourceRecordSet, v string) libdns.Record {
	typ := string(s.Type)
	if typ == "TXT" {
		v = recs.UnquoteTXT(v)
	}
	return recs.Typed(libdns.RR{Name: recs.Relative(unescape(aws.ToString(s.Name)), zone),
		TTL: time.Duration(aws.ToInt64(s.TTL)) * time.Second, Type: typ, Data: v})
}

// change submits changes and, with WaitForSync, waits until they are INSYNC.
func (p *Provider) change(ctx context.Context, c *r53.Client, zoneID string, changes []types.Change) error {
	if len(changes) == 0 {
		return nil
	}
	out, err := c.ChangeResourceRecordSets(ctx, &r53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch:  &types.ChangeBatch{Changes: changes, Comment: aws.String("casket: ACME DNS-01 challenge")},
	})
	if err != nil {
		return fmt.Errorf("route53: changing records: %w", err)
	}
	if !p.WaitForSync || out.ChangeInfo == nil {
		return nil
	}
	maxWait := p.MaxWait
	if maxWait == 0 {
		maxWait = 2 * time.Minute
	}
	w := r53.NewResourceRecordSetsChangedWaiter(c, func(o *r53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
	})
	if err := w.Wait(ctx, &r53.GetChangeInput{Id: out.ChangeInfo.Id}, maxWait); err != nil {
		return fmt.Errorf("route53: waiting for change to be INSYNC: %w", err)
	}
	return nil
}

// GetRecords returns every record of the zone.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	c, err := p.api(ctx)
	if err != nil {
		return nil, err
	}
	id, err := p.zoneID(ctx, c, zone)
	if err != nil {
		return nil, err
	}
	sets, err := p.sets(ctx, c, id, "", "")
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, s := range sets {
		for _, rr := range s.ResourceRecords {
			out = append(out, toLibdns(zone, s, aws.ToString(rr.Value)))
		}
	}
	return out, nil
}

// AppendRecords adds the records to their record sets (UPSERT of the existing values plus the new ones).
func (p *Provider) AppendRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.api(ctx)
	if err != nil {
		return nil, err
	}
	id, err := p.zoneID(ctx, c, zone)
	if err != nil {
		return nil, err
	}
	pending := map[string]*types.ResourceRecordSet{}
	var order []string
	var out []libdns.Record
	for _, rec := range in {
		rr := rec.RR()
		name, typ := recs.FQDN(rr.Name, zone), strings.ToUpper(rr.Type)
		key := name + " " + typ
		s, ok := pending[key]
		if !ok {
			cur, err := p.sets(ctx, c, id, name, typ)
			if err != nil {
				return nil, err
			}
			s = &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRType(typ)}
			if len(cur) > 0 {
				s.ResourceRecords = cur[0].ResourceRecords
			}
			pending[key] = s
			order = append(order, key)
		}
		s.TTL = aws.Int64(int64(recs.TTLSeconds(rr.TTL, 1)))
		if rr.TTL == 0 {
			s.TTL = aws.Int64(300)
		}
		s.ResourceRecords = append(s.ResourceRecords, types.ResourceRecord{Value: aws.String(value(typ, rr.Data))})
		out = append(out, toLibdns(zone, *s, value(typ, rr.Data)))
	}
	changes := make([]types.Change, 0, len(order))
	for _, k := range order {
		changes = append(changes, types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: pending[k]})
	}
	if err := p.change(ctx, c, id, changes); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRecords removes the matching records: a record set left empty is deleted (with its exact current
// content, as Route 53 requires), others are replaced by what remains.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, in []libdns.Record) ([]libdns.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.api(ctx)
	if err != nil {
		return nil, err
	}
	id, err := p.zoneID(ctx, c, zone)
	if err != nil {
		return nil, err
	}
	var changes []types.Change
	var out []libdns.Record
	done := map[string]bool{}
	for _, want := range in {
		rr := want.RR()
		name, typ := recs.FQDN(rr.Name, zone), strings.ToUpper(rr.Type)
		if done[name+" "+typ] {
			continue
		}
		done[name+" "+typ] = true
		var cur []types.ResourceRecordSet
		if typ == "" { // any type: scan the zone for the name
			all, err := p.sets(ctx, c, id, "", "")
			if err != nil {
				return nil, err
			}
			for _, s := range all {
				if unescape(aws.ToString(s.Name)) == name && !done[name+" "+string(s.Type)] {
					done[name+" "+string(s.Type)] = true
					cur = append(cur, s)
				}
			}
		} else if cur, err = p.sets(ctx, c, id, name, typ); err != nil {
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
	if err := p.change(ctx, c, id, changes); err != nil {
		return nil, err
	}
	return out, nil
}

// remaining applies the deletions in to set s: it returns the change to submit (nil when nothing matches)
// and the deleted records.
func remaining(zone string, s types.ResourceRecordSet, in []libdns.Record) (*types.Change, []libdns.Record) {
	var keep []types.ResourceRecord
	var deleted []libdns.Record
	for _, v := range s.ResourceRecords {
		have := toLibdns(zone, s, aws.ToString(v.Value))
		hit := false
		for _, w := range in {
			hit = hit || recs.Matches(w.RR(), have.RR(), zone)
		}
		if hit {
			deleted = append(deleted, have)
		} else {
			keep = append(keep, v)
		}
	}
	switch {
	case len(deleted) == 0:
		return nil, nil
	case len(keep) == 0:
		return &types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: &s}, deleted
	default:
		s.ResourceRecords = keep
		return &types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &s}, deleted
	}
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.RecordGetter   = (*Provider)(nil)
)
