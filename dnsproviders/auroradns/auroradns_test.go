package auroradns

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/libdns/libdns"
)

// fakeAurora follows the Aurora DNS API as its official client uses it (GET /zones, GET/POST
// /zones/{id}/records, DELETE /zones/{id}/records/{id}): every request must carry X-AuroraDNS-Date within
// 5 minutes and an Authorization "AuroraDNSv1" HMAC-SHA256 over method, path and that date with the
// user's key (401 otherwise); unknown zones and records get 404; the first create gets 429.
type fakeAurora struct {
	mu        sync.Mutex
	user, key string
	records   map[string]record // zone z-1 (casket.test)
	next      int
	throttled bool
}

func newFake(t *testing.T) (*fakeAurora, *httptest.Server) {
	f := &fakeAurora{user: "user-1234", key: "aurora-secret-key", records: map[string]record{
		"r1": {ID: "r1", Type: "A", Name: "", Content: "192.0.2.1", TTL: 3600},
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

func (f *fakeAurora) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-AuroraDNS-Date"))
	if err != nil || time.Since(when).Abs() > 5*time.Minute || r.Header.Get("Authorization") != Sign(f.user, f.key, r.Method, r.URL.Path, when) {
		reply(w, 401, map[string]string{"error": "AuthenticationRequiredError", "errormsg": "Failed to parse Authorization header"})
		return
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(p) == 1 && p[0] == "zones" && r.Method == http.MethodGet:
		reply(w, 200, []zone{{ID: "z-0", Name: "other.test"}, {ID: "z-1", Name: "casket.test"}})
	case len(p) >= 3 && p[0] == "zones" && p[2] == "records" && p[1] != "z-1":
		reply(w, 404, map[string]string{"error": "NotFoundError", "errormsg": "Zone not found"})
	case len(p) == 3 && r.Method == http.MethodGet:
		list := []record{}
		for _, rec := range f.records {
			list = append(list, rec)
		}
		reply(w, 200, list)
	case len(p) == 3 && r.Method == http.MethodPost:
		if !f.throttled {
			f.throttled = true
			w.Header().Set("Retry-After", "0")
			reply(w, 429, map[string]string{"error": "RateLimitError", "errormsg": "Too many requests"})
			return
		}
		var rec record
		if err := json.NewDecoder(r.Body).Decode(&rec); err != nil || rec.Type == "" || rec.Content == "" || strings.HasSuffix(rec.Name, ".") {
			reply(w, 400, map[string]string{"error": "InvalidRecordError", "errormsg": "invalid record"})
			return
		}
		f.next++
		rec.ID = fmt.Sprint("n", f.next)
		f.records[rec.ID] = rec
		reply(w, 201, rec)
	case len(p) == 4 && r.Method == http.MethodDelete:
		if _, ok := f.records[p[3]]; !ok {
			reply(w, 404, map[string]string{"error": "NotFoundError", "errormsg": "Record not found"})
			return
		}
		delete(f.records, p[3])
		reply(w, 204, nil)
	default:
		reply(w, 404, map[string]string{"error": "NotFoundError", "errormsg": "no route"})
	}
}

func (f *fakeAurora) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.records {
		if r.Type == "TXT" && r.Name+".casket.test." == fqdn {
			out = append(out, r.Content)
		}
	}
	return out
}

func TestNew(t *testing.T) {
	_, err := New(dnsconf.Config{Provider: "auroradns", LookupEnv: func(string) (string, bool) { return "", false }})
	if err == nil || !strings.Contains(err.Error(), "AURORA_USER_ID") || !strings.Contains(err.Error(), "AURORA_KEY") {
		t.Fatalf("err = %v", err)
	}
}

// TestFakeAurora runs the conformance test against a server following the Aurora DNS API.
func TestFakeAurora(t *testing.T) {
	f, srv := newFake(t)
	p := &Provider{UserID: f.user, Key: f.key, Endpoint: srv.URL, MinWait: 1}
	conformance.Run(t, p, "casket.test.", conformance.Options{Lookup: f.txt})
	if !f.throttled {
		t.Error("nothing created")
	}
	ctx := context.Background()
	t.Run("apex record", func(t *testing.T) {
		all, err := p.GetRecords(ctx, "casket.test")
		if err != nil || len(all) != 1 || all[0].RR().Name != "@" {
			t.Errorf("got %v, %v", all, err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		q := &Provider{UserID: f.user, Key: "not-the-key", Endpoint: srv.URL}
		_, err := q.GetRecords(ctx, "casket.test")
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "not-the-key") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		_, err := p.AppendRecords(ctx, "nope.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "no zone named nope.test") {
			t.Errorf("err = %v", err)
		}
	})
}
