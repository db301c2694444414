package route53

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/casketserver/casket/dnsproviders/internal/awssig"
)

// The XML shapes of Route 53 API 2013-04-01 used here; field order follows the API's schema.

type resourceRecord struct {
	Value string `xml:"Value"`
}

type aliasTarget struct {
	HostedZoneID         string `xml:"HostedZoneId"`
	DNSName              string `xml:"DNSName"`
	EvaluateTargetHealth bool   `xml:"EvaluateTargetHealth"`
}

// rrSet is a ResourceRecordSet; routing fields are kept so that a set read back can be deleted exactly.
type rrSet struct {
	Name             string           `xml:"Name"`
	Type             string           `xml:"Type"`
	SetIdentifier    string           `xml:"SetIdentifier,omitempty"`
	Weight           *int64           `xml:"Weight,omitempty"`
	Region           string           `xml:"Region,omitempty"`
	Failover         string           `xml:"Failover,omitempty"`
	MultiValueAnswer *bool            `xml:"MultiValueAnswer,omitempty"`
	TTL              *int64           `xml:"TTL,omitempty"`
	ResourceRecords  []resourceRecord `xml:"ResourceRecords>ResourceRecord,omitempty"`
	AliasTarget      *aliasTarget     `xml:"AliasTarget,omitempty"`
	HealthCheckID    string           `xml:"HealthCheckId,omitempty"`
}

type change struct {
	Action string `xml:"Action"`
	Set    *rrSet `xml:"ResourceRecordSet"`
}

type changeRequest struct {
	XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ChangeResourceRecordSetsRequest"`
	Comment string   `xml:"ChangeBatch>Comment,omitempty"`
	Changes []change `xml:"ChangeBatch>Changes>Change"`
}

type changeInfo struct {
	ID     string `xml:"ChangeInfo>Id"`
	Status string `xml:"ChangeInfo>Status"`
}

type hostedZone struct {
	ID      string `xml:"Id"`
	Name    string `xml:"Name"`
	Private bool   `xml:"Config>PrivateZone"`
}

type zonesPage struct {
	Zones       []hostedZone `xml:"HostedZones>HostedZone"`
	IsTruncated bool         `xml:"IsTruncated"`
	NextDNSName string       `xml:"NextDNSName"`
	NextZoneID  string       `xml:"NextHostedZoneId"`
}

type setsPage struct {
	Sets        []rrSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated bool    `xml:"IsTruncated"`
	NextName    string  `xml:"NextRecordName"`
	NextType    string  `xml:"NextRecordType"`
	NextID      string  `xml:"NextRecordIdentifier"`
}

const apiVersion = "/2013-04-01"

// call sends one request and decodes the XML reply into out.
func (p *Provider) call(ctx context.Context, op, method, pathQuery string, in, out any) error {
	var body []byte
	var hdr http.Header
	var err error
	if in != nil {
		if body, err = xml.Marshal(in); err != nil {
			return fmt.Errorf("route53: encoding %s: %w", op, err)
		}
		body = append([]byte(xml.Header), body...)
		hdr = http.Header{"Content-Type": {"application/xml"}}
	}
	data, err := p.api().Do(ctx, op, method, apiVersion+pathQuery, hdr, body)
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decoding reply: %w", op, err)
	}
	return nil
}

func (p *Provider) listZones(ctx context.Context, name, id string) (*zonesPage, error) {
	q := []string{"dnsname", name}
	if id != "" {
		q = append(q, "hostedzoneid", id)
	}
	var out zonesPage
	return &out, p.call(ctx, "ListHostedZonesByName", http.MethodGet, "/hostedzonesbyname?"+awssig.Query(q...), nil, &out)
}

func (p *Provider) listSets(ctx context.Context, zoneID, name, typ, ident string) (*setsPage, error) {
	var q []string
	if name != "" {
		q = append(q, "name", name)
		if typ != "" {
			q = append(q, "type", typ)
		}
		if ident != "" {
			q = append(q, "identifier", ident)
		}
	}
	path := "/hostedzone/" + awssig.Escape(zoneID, false) + "/rrset"
	if len(q) > 0 {
		path += "?" + awssig.Query(q...)
	}
	var out setsPage
	return &out, p.call(ctx, "ListResourceRecordSets", http.MethodGet, path, nil, &out)
}

func (p *Provider) submit(ctx context.Context, zoneID string, changes []change) (*changeInfo, error) {
	var out changeInfo
	in := changeRequest{Comment: "casket: ACME DNS-01 challenge", Changes: changes}
	return &out, p.call(ctx, "ChangeResourceRecordSets", http.MethodPost, "/hostedzone/"+awssig.Escape(zoneID, false)+"/rrset/", in, &out)
}

// waitInSync polls GetChange until the change is INSYNC, for at most maxWait.
func (p *Provider) waitInSync(ctx context.Context, id string, maxWait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	id = strings.TrimPrefix(id, "/change/")
	delay := 200 * time.Millisecond
	for {
		var out changeInfo
		if err := p.call(ctx, "GetChange", http.MethodGet, "/change/"+awssig.Escape(id, false), nil, &out); err != nil {
			return err
		}
		if out.Status == "INSYNC" {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("change %s still %s: %w", id, out.Status, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}
