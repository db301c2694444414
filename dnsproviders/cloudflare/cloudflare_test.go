package cloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/libdns/libdns"
)

// fakeCloudflare follows the Cloudflare API v4 (client/v4): bearer tokens with scopes (the zone token may
// only list zones, the DNS token only touch dns_records), the {success, errors, result, result_info}
// envelope, pages of at most 2 records, 400/6003 for a malformed Authorization header, 403/10000 for an
// unknown or out-of-scope token, 400/81058 for a duplicate record, 404/81044 for an unknown record id,
// and one 429 with Retry-After on the first record creation.
type fakeCloudflare struct {
	mu                  sync.Mutex
	zoneToken, dnsToken string
	records             map[string]dnsRecord // id → record, zone "z1" (casket.test)
	next                int
	throttled           bool
	requests            []string
}

func newFake(t *testing.T) (*fakeCloudflare, *httptest.Server) {
	f := &fakeCloudflare{zoneToken: "zone-token-abc", dnsToken: "dns-token-xyz", records: map[string]dnsRecord{}}
	for i, n := range []string{"a", "b", "c"} {
		f.records[fmt.Sprint("r", i)] = dnsRecord{ID: fmt.Sprint("r", i), Type: "A", Name: n + ".casket.test", Content: "192.0.2.1", TTL: 300}
	}
	srv := httptest.NewServer(http.StripPrefix("/client/v4", f))
	t.Cleanup(srv.Close)
	return f, srv
}

func write(w http.ResponseWriter, status int, v map[string]any) {
	if _, ok := v["errors"]; !ok {
		v["errors"] = []any{}
	}
	v["success"] = status/100 == 2
	v["messages"] = []any{}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	write(w, status, map[string]any{"errors": []map[string]any{{"code": code, "message": msg}}, "result": nil})
}

func (f *fakeCloudflare) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		write(w, 400, map[string]any{"errors": []map[string]any{{"code": 6003, "message": "Invalid request headers",
			"error_chain": []map[string]any{{"code": 6111, "message": "Invalid format for Authorization header"}}}}})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "zones":
		if token != f.zoneToken {
			fail(w, 403, 10000, "Authentication error")
			return
		}
		var res []zone
		for _, z := range []zone{{"z1", "casket.test"}, {"z2", "other.test"}} {
			if n := r.URL.Query().Get("name"); n == "" || n == z.Name {
				res = append(res, z)
			}
		}
		write(w, 200, map[string]any{"result": res, "result_info": map[string]int{"page": 1, "per_page": 20, "count": len(res), "total_count": len(res), "total_pages": 1}})
	case len(parts) >= 3 && parts[0] == "zones" && parts[2] == "dns_records":
		if token != f.dnsToken {
			fail(w, 403, 10000, "Authentication error")
			return
		}
		if parts[1] != "z1" {
			fail(w, 404, 7003, "Could not route to /zones/"+parts[1]+"/dns_records, perhaps your object identifier is invalid?")
			return
		}
		f.handleRecords(w, r, parts[3:])
	default:
		fail(w, 404, 7000, "No route for that URI")
	}
}

func (f *fakeCloudflare) handleRecords(w http.ResponseWriter, r *http.Request, rest []string) {
	switch {
	case r.Method == http.MethodGet && len(rest) == 0:
		q := r.URL.Query()
		var all []dnsRecord
		for _, rec := range f.records {
			if (q.Get("name") == "" || q.Get("name") == rec.Name) && (q.Get("type") == "" || q.Get("type") == rec.Type) {
				all = append(all, rec)
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
		page, _ := strconv.Atoi(q.Get("page"))
		page = max(page, 1)
		const per = 2
		pages := max((len(all)+per-1)/per, 1)
		lo, hi := min((page-1)*per, len(all)), min(page*per, len(all))
		write(w, 200, map[string]any{"result": all[lo:hi], "result_info": map[string]int{"page": page, "per_page": per, "count": hi - lo, "total_count": len(all), "total_pages": pages}})
	case r.Method == http.MethodPost && len(rest) == 0:
		if !f.throttled {
			f.throttled = true
			w.Header().Set("Retry-After", "0")
			fail(w, 429, 971, "Please wait and consider throttling your request speed")
			return
		}
		var rec dnsRecord
		if err := json.NewDecoder(r.Body).Decode(&rec); err != nil || rec.Type == "" || rec.Name == "" || rec.Content == "" {
			fail(w, 400, 9005, "Content for record is invalid")
			return
		}
		if rec.TTL != 1 && (rec.TTL < 60 || rec.TTL > 86400) {
			fail(w, 400, 9009, "TTL must be between 60 and 86400 seconds, or 1 for Automatic")
			return
		}
		if !strings.HasSuffix(rec.Name, ".casket.test") && rec.Name != "casket.test" {
			fail(w, 400, 9007, "record name not in zone")
			return
		}
		for _, old := range f.records {
			if old.Name == rec.Name && old.Type == rec.Type && old.Content == rec.Content {
				fail(w, 400, 81058, "An identical record already exists.")
				return
			}
		}
		f.next++
		rec.ID = fmt.Sprint("new", f.next)
		f.records[rec.ID] = rec
		write(w, 200, map[string]any{"result": rec})
	case r.Method == http.MethodDelete && len(rest) == 1:
		if _, ok := f.records[rest[0]]; !ok {
			fail(w, 404, 81044, "Record does not exist.")
			return
		}
		delete(f.records, rest[0])
		write(w, 200, map[string]any{"result": map[string]string{"id": rest[0]}})
	default:
		fail(w, 405, 10405, "Method not allowed")
	}
}

func (f *fakeCloudflare) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.records {
		if r.Type == "TXT" && r.Name+"." == fqdn {
			if !strings.HasPrefix(r.Content, `"`) {
				out = append(out, "UNQUOTED:"+r.Content)
				continue
			}
			out = append(out, strings.Trim(r.Content, `"`))
		}
	}
	return out
}

func TestNew(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	_, err := New(dnsconf.Config{Provider: "cloudflare", LookupEnv: none})
	if err == nil || !strings.Contains(err.Error(), "CLOUDFLARE_DNS_API_TOKEN") || !strings.Contains(err.Error(), "CF_DNS_API_TOKEN_FILE") {
		t.Fatalf("err = %v", err)
	}
	env := map[string]string{"CF_DNS_API_TOKEN": "tok"}
	p, err := New(dnsconf.Config{Provider: "cloudflare", LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil || p.APIToken != "tok" {
		t.Fatalf("p = %+v, err = %v", p, err)
	}
}

// TestFakeCloudflare runs the conformance test against a server following Cloudflare API v4.
func TestFakeCloudflare(t *testing.T) {
	f, srv := newFake(t)
	p := &Provider{APIToken: f.dnsToken, ZoneToken: f.zoneToken, BaseURL: srv.URL + "/client/v4", MinWait: 1}
	conformance.Run(t, p, "casket.test.", conformance.Options{Lookup: f.txt})
	if !f.throttled {
		t.Error("no record was created")
	}
	ctx := context.Background()
	t.Run("dns token cannot list zones", func(t *testing.T) {
		q := &Provider{APIToken: f.dnsToken, BaseURL: srv.URL + "/client/v4"}
		_, err := q.GetRecords(ctx, "casket.test")
		if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), f.dnsToken) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		q := &Provider{APIToken: "nope", ZoneToken: "nope", BaseURL: srv.URL + "/client/v4"}
		_, err := q.AppendRecords(ctx, "casket.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "Authentication error") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		_, err := p.GetRecords(ctx, "nope.test")
		if err == nil || !strings.Contains(err.Error(), "zone nope.test not found") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("paginated listing", func(t *testing.T) {
		all, err := p.GetRecords(ctx, "casket.test")
		if err != nil || len(all) != 3 {
			t.Errorf("got %d records (%v), want 3", len(all), err)
		}
	})
}
