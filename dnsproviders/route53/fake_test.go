package route53

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/internal/awstest"
)

// fakeRoute53 follows the Route 53 REST API, version 2013-04-01: every request must carry a SigV4
// signature (service route53, region us-east-1) that the SDK's own signer reproduces with the known key;
// record sets are replaced whole, DELETE must match the current set exactly, CREATE fails on an existing
// set, lists are paged, unknown zones get 404 NoSuchHostedZone and the first change gets 400 Throttling.
type fakeRoute53 struct {
	t              *testing.T
	keyID, secret  string
	mu             sync.Mutex
	zones          map[string]string               // id → name
	private        map[string]bool                 // id → private
	sets           map[string]map[string]*xmlRRSet // id → "name type" → set
	throttleFirst  bool
	changes, calls int
	pageSize       int
}

type xmlRR struct {
	Value string `xml:"Value"`
}

type xmlRRSet struct {
	Name            string  `xml:"Name"`
	Type            string  `xml:"Type"`
	TTL             int64   `xml:"TTL"`
	ResourceRecords []xmlRR `xml:"ResourceRecords>ResourceRecord"`
}

type xmlChange struct {
	Action string   `xml:"Action"`
	Set    xmlRRSet `xml:"ResourceRecordSet"`
}

type xmlChangeRequest struct {
	XMLName xml.Name    `xml:"ChangeResourceRecordSetsRequest"`
	Changes []xmlChange `xml:"ChangeBatch>Changes>Change"`
}

func newFakeRoute53(t *testing.T) (*fakeRoute53, *httptest.Server) {
	f := &fakeRoute53{t: t, keyID: "AKIDCASKETTEST", secret: "casket/secret/key/for/tests",
		zones:         map[string]string{"Z0PRIVATE": "casket.test.", "Z1PUBLIC": "casket.test.", "Z2OTHER": "other.test."},
		private:       map[string]bool{"Z0PRIVATE": true},
		sets:          map[string]map[string]*xmlRRSet{"Z0PRIVATE": {}, "Z1PUBLIC": {}, "Z2OTHER": {}},
		throttleFirst: true, pageSize: 2}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		f.sets["Z1PUBLIC"][n+".casket.test. A"] = &xmlRRSet{Name: n + ".casket.test.", Type: "A", TTL: 300, ResourceRecords: []xmlRR{{"192.0.2.1"}}}
	}
	f.sets["Z1PUBLIC"][`\052.casket.test. A`] = &xmlRRSet{Name: `\052.casket.test.`, Type: "A", TTL: 300, ResourceRecords: []xmlRR{{"192.0.2.2"}}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeRoute53) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`, code, msg)
}

func (f *fakeRoute53) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml")
	data, err := xml.Marshal(v)
	if err != nil {
		f.t.Errorf("marshal: %v", err)
	}
	w.Write([]byte(xml.Header))
	w.Write(data)
}

// verify checks the SigV4 signature by signing the same request again with the SDK's signer.
func (f *fakeRoute53) verify(r *http.Request, body []byte) error {
	return awstest.VerifySigV4(r, body, f.keyID, f.secret, "route53", "us-east-1")
}

func (f *fakeRoute53) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := f.verify(r, body); err != nil {
		f.fail(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "2013-04-01" {
		f.fail(w, http.StatusNotFound, "UnknownOperation", "no such path "+r.URL.Path)
		return
	}
	switch {
	case r.Method == http.MethodGet && parts[1] == "hostedzonesbyname" && len(parts) == 2:
		f.listZones(w, r)
	case len(parts) == 4 && parts[1] == "hostedzone" && parts[3] == "rrset":
		id := parts[2]
		if _, ok := f.zones[id]; !ok {
			f.fail(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+id)
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.listSets(w, r, id)
		case http.MethodPost:
			f.change(w, body, id)
		default:
			f.fail(w, http.StatusMethodNotAllowed, "UnknownOperation", r.Method)
		}
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "change":
		f.reply(w, struct {
			XMLName xml.Name `xml:"GetChangeResponse"`
			Id      string   `xml:"ChangeInfo>Id"`
			Status  string   `xml:"ChangeInfo>Status"`
			At      string   `xml:"ChangeInfo>SubmittedAt"`
		}{Id: "/change/" + parts[2], Status: "INSYNC", At: time.Now().UTC().Format(time.RFC3339)})
	default:
		f.fail(w, http.StatusNotFound, "UnknownOperation", r.Method+" "+r.URL.Path)
	}
}

func (f *fakeRoute53) listZones(w http.ResponseWriter, r *http.Request) {
	type hz struct {
		Id      string `xml:"Id"`
		Name    string `xml:"Name"`
		Ref     string `xml:"CallerReference"`
		Private bool   `xml:"Config>PrivateZone"`
	}
	var all []hz
	for id, n := range f.zones {
		all = append(all, hz{Id: "/hostedzone/" + id, Name: n, Ref: id, Private: f.private[id]})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name+all[i].Id < all[j].Name+all[j].Id })
	start, startID := r.URL.Query().Get("dnsname"), r.URL.Query().Get("hostedzoneid")
	if startID != "" && start == "" {
		f.fail(w, http.StatusBadRequest, "InvalidInput", "hostedzoneid without dnsname")
		return
	}
	var out []hz
	for _, z := range all {
		if z.Name > start || (z.Name == start && "/hostedzone/"+startID <= z.Id) {
			out = append(out, z)
		}
	}
	resp := struct {
		XMLName     xml.Name `xml:"ListHostedZonesByNameResponse"`
		Zones       []hz     `xml:"HostedZones>HostedZone"`
		DNSName     string   `xml:"DNSName"`
		IsTruncated bool     `xml:"IsTruncated"`
		MaxItems    string   `xml:"MaxItems"`
		NextDNSName string   `xml:"NextDNSName,omitempty"`
		NextID      string   `xml:"NextHostedZoneId,omitempty"`
	}{DNSName: start, MaxItems: "1"}
	if len(out) > 1 { // one zone per page, to exercise paging
		resp.IsTruncated, resp.NextDNSName, resp.NextID = true, out[1].Name, strings.TrimPrefix(out[1].Id, "/hostedzone/")
		out = out[:1]
	}
	resp.Zones = out
	f.reply(w, resp)
}

func (f *fakeRoute53) sorted(id string) []*xmlRRSet {
	var all []*xmlRRSet
	for _, s := range f.sets[id] {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Name != all[j].Name {
			return all[i].Name < all[j].Name
		}
		return all[i].Type < all[j].Type
	})
	return all
}

func (f *fakeRoute53) listSets(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	name, typ := q.Get("name"), q.Get("type")
	if typ != "" && name == "" {
		f.fail(w, http.StatusBadRequest, "InvalidInput", "type without name")
		return
	}
	var page []*xmlRRSet
	all := f.sorted(id)
	i := 0
	for ; i < len(all); i++ {
		if name == "" || all[i].Name > name || (all[i].Name == name && all[i].Type >= typ) {
			break
		}
	}
	page = all[i:]
	resp := struct {
		XMLName  xml.Name    `xml:"ListResourceRecordSetsResponse"`
		Sets     []*xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
		Trunc    bool        `xml:"IsTruncated"`
		MaxItems string      `xml:"MaxItems"`
		NextName string      `xml:"NextRecordName,omitempty"`
		NextType string      `xml:"NextRecordType,omitempty"`
	}{MaxItems: fmt.Sprint(f.pageSize)}
	if len(page) > f.pageSize {
		resp.Trunc, resp.NextName, resp.NextType = true, page[f.pageSize].Name, page[f.pageSize].Type
		page = page[:f.pageSize]
	}
	resp.Sets = page
	f.reply(w, resp)
}

func (f *fakeRoute53) change(w http.ResponseWriter, body []byte, id string) {
	var req xmlChangeRequest
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Changes) == 0 {
		f.fail(w, http.StatusBadRequest, "InvalidInput", "bad change batch")
		return
	}
	if f.throttleFirst {
		f.throttleFirst = false
		f.fail(w, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	next := map[string]*xmlRRSet{}
	for k, v := range f.sets[id] {
		next[k] = v
	}
	for _, c := range req.Changes {
		s := c.Set
		s.Name = strings.ReplaceAll(strings.ToLower(s.Name), "*", `\052`)
		if !strings.HasSuffix(s.Name, ".") {
			s.Name += "."
		}
		if !strings.HasSuffix(s.Name, f.zones[id]) {
			f.fail(w, http.StatusBadRequest, "InvalidChangeBatch", "name outside the zone")
			return
		}
		key := s.Name + " " + s.Type
		cur := next[key]
		switch c.Action {
		case "CREATE":
			if cur != nil {
				f.fail(w, http.StatusBadRequest, "InvalidChangeBatch", "Tried to create resource record set but it already exists")
				return
			}
			next[key] = &s
		case "UPSERT":
			next[key] = &s
		case "DELETE":
			if cur == nil || cur.TTL != s.TTL || !sameValues(cur.ResourceRecords, s.ResourceRecords) {
				f.fail(w, http.StatusBadRequest, "InvalidChangeBatch", "Tried to delete resource record set but it was not found or values do not match")
				return
			}
			delete(next, key)
		default:
			f.fail(w, http.StatusBadRequest, "InvalidInput", "unknown action")
			return
		}
		if c.Action != "DELETE" && (len(s.ResourceRecords) == 0 || s.TTL == 0) {
			f.fail(w, http.StatusBadRequest, "InvalidInput", "TTL and records are required")
			return
		}
		for _, rr := range s.ResourceRecords {
			if s.Type == "TXT" && !strings.HasPrefix(rr.Value, `"`) {
				f.fail(w, http.StatusBadRequest, "InvalidChangeBatch", "Invalid Resource Record: TXT must be quoted")
				return
			}
		}
	}
	f.sets[id] = next
	f.changes++
	f.reply(w, struct {
		XMLName xml.Name `xml:"ChangeResourceRecordSetsResponse"`
		Id      string   `xml:"ChangeInfo>Id"`
		Status  string   `xml:"ChangeInfo>Status"`
		At      string   `xml:"ChangeInfo>SubmittedAt"`
	}{Id: fmt.Sprintf("/change/C%d", f.changes), Status: "PENDING", At: time.Now().UTC().Format(time.RFC3339)})
}

func sameValues(a, b []xmlRR) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, v := range a {
		seen[v.Value]++
	}
	for _, v := range b {
		seen[v.Value]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// txt returns the unquoted TXT values at fqdn in zone id.
func (f *fakeRoute53) txt(id, fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	if s := f.sets[id][strings.ToLower(fqdn)+" TXT"]; s != nil {
		for _, v := range s.ResourceRecords {
			out = append(out, strings.Trim(v.Value, `"`))
		}
	}
	return out
}
