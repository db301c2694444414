package digitalocean

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

// fakeDO follows the DigitalOcean API v2 domain records endpoints: bearer token (401 "unauthorized"
// otherwise), the name filter taking the fully qualified name, relative names ("@" for the apex) in
// records, pages linked with links.pages.next (2 records a page here), TTL at least 30, 404 "not_found"
// for an unknown domain or record, 201 on create, 204 on delete, and one 429 "too_many_requests" on the
// first create.
type fakeDO struct {
	mu        sync.Mutex
	token     string
	records   map[int64]domainRecord
	next      int64
	throttled bool
	base      string
}

func newFake(t *testing.T) (*fakeDO, *httptest.Server) {
	f := &fakeDO{token: "dop_v1_testtoken", records: map[int64]domainRecord{}, next: 100}
	for i, n := range []string{"@", "www", "mail"} {
		f.records[int64(i+1)] = domainRecord{ID: int64(i + 1), Type: "A", Name: n, Data: "192.0.2.1", TTL: 1800}
	}
	srv := httptest.NewServer(f)
	f.base = srv.URL
	t.Cleanup(srv.Close)
	return f, srv
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func fail(w http.ResponseWriter, status int, id, msg string) {
	reply(w, status, map[string]string{"id": id, "message": msg})
}

func (f *fakeDO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		fail(w, 401, "unauthorized", "Unable to authenticate you.")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 4 || parts[0] != "v2" || parts[1] != "domains" || parts[3] != "records" {
		fail(w, 404, "not_found", "The resource you were accessing could not be found.")
		return
	}
	if parts[2] != "casket.test" {
		fail(w, 404, "not_found", "The resource you were accessing could not be found.")
		return
	}
	switch {
	case r.Method == http.MethodGet && len(parts) == 4:
		q := r.URL.Query()
		var all []domainRecord
		for _, rec := range f.records {
			fq := rec.Name + ".casket.test"
			if rec.Name == "@" {
				fq = "casket.test"
			}
			if (q.Get("name") == "" || q.Get("name") == fq) && (q.Get("type") == "" || q.Get("type") == rec.Type) {
				all = append(all, rec)
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
		page, _ := strconv.Atoi(q.Get("page"))
		page = max(page, 1)
		const per = 2
		lo, hi := min((page-1)*per, len(all)), min(page*per, len(all))
		out := map[string]any{"domain_records": all[lo:hi], "meta": map[string]int{"total": len(all)}}
		pages := map[string]string{}
		if hi < len(all) {
			q.Set("page", fmt.Sprint(page+1))
			pages["next"] = f.base + r.URL.Path + "?" + q.Encode()
		}
		out["links"] = map[string]any{"pages": pages}
		reply(w, 200, out)
	case r.Method == http.MethodPost && len(parts) == 4:
		if !f.throttled {
			f.throttled = true
			w.Header().Set("Retry-After", "0")
			fail(w, 429, "too_many_requests", "API Rate limit exceeded.")
			return
		}
		var rec domainRecord
		if err := json.NewDecoder(r.Body).Decode(&rec); err != nil || rec.Type == "" || rec.Name == "" || strings.HasSuffix(rec.Name, ".") {
			fail(w, 422, "unprocessable_entity", "Name is invalid")
			return
		}
		if rec.TTL < 30 {
			fail(w, 422, "unprocessable_entity", "TTL must be at least 30")
			return
		}
		f.next++
		rec.ID = f.next
		f.records[rec.ID] = rec
		reply(w, 201, map[string]any{"domain_record": rec})
	case r.Method == http.MethodDelete && len(parts) == 5:
		id, _ := strconv.ParseInt(parts[4], 10, 64)
		if _, ok := f.records[id]; !ok {
			fail(w, 404, "not_found", "The resource you were accessing could not be found.")
			return
		}
		delete(f.records, id)
		reply(w, 204, nil)
	default:
		fail(w, 405, "method_not_allowed", "Method Not Allowed")
	}
}

func (f *fakeDO) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.records {
		if r.Type == "TXT" && r.Name+".casket.test." == fqdn {
			out = append(out, r.Data)
		}
	}
	return out
}

func TestNew(t *testing.T) {
	_, err := New(dnsconf.Config{Provider: "digitalocean", LookupEnv: func(string) (string, bool) { return "", false }})
	if err == nil || !strings.Contains(err.Error(), "DO_AUTH_TOKEN") {
		t.Fatalf("err = %v", err)
	}
}

// TestFakeDigitalOcean runs the conformance test against a server following DigitalOcean API v2.
func TestFakeDigitalOcean(t *testing.T) {
	f, srv := newFake(t)
	p := &Provider{Token: f.token, BaseURL: srv.URL, MinWait: 1}
	conformance.Run(t, p, "casket.test.", conformance.Options{Lookup: f.txt})
	if !f.throttled {
		t.Error("no record created")
	}
	ctx := context.Background()
	t.Run("paginated listing", func(t *testing.T) {
		all, err := p.GetRecords(ctx, "casket.test")
		if err != nil || len(all) != 3 {
			t.Errorf("got %d records (%v), want 3", len(all), err)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		q := &Provider{Token: "dop_v1_wrong", BaseURL: srv.URL}
		_, err := q.AppendRecords(ctx, "casket.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "dop_v1_wrong") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown domain", func(t *testing.T) {
		_, err := p.GetRecords(ctx, "nope.test.")
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("err = %v", err)
		}
	})
}
