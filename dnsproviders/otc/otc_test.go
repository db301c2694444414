package otc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/libdns/libdns"
)

// fakeOTC follows OpenStack Keystone v3 (POST /v3/auth/tokens with password identity and project scope:
// 201, token in X-Subject-Token, service catalog with the public "dns" endpoint) and the Designate v2 API
// as Open Telekom Cloud serves it (/v2/zones?name=, /v2/zones/{id}/recordsets with name/type filters and
// links.next paging at 2 per page, POST/PUT/DELETE answered 202). Every DNS call needs a valid
// X-Auth-Token (401 otherwise); the first token is revoked after a few calls to exercise renewal, and the
// first recordset creation gets 429.
type fakeOTC struct {
	mu        sync.Mutex
	url       string
	tokens    map[string]bool
	logins    int
	calls     int
	sets      map[string]*recordset // zone zid-1 (casket.test.)
	next      int
	throttled bool
}

func newFake(t *testing.T) (*fakeOTC, *httptest.Server) {
	f := &fakeOTC{tokens: map[string]bool{}, sets: map[string]*recordset{}}
	for i, n := range []string{"a", "b", "c"} {
		id := fmt.Sprint("rs", i)
		f.sets[id] = &recordset{ID: id, Name: n + ".casket.test.", Type: "A", TTL: 300, Records: []string{"192.0.2.1"}}
	}
	srv := httptest.NewServer(f)
	f.url = srv.URL
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

func (f *fakeOTC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/v3/auth/tokens" {
		f.login(w, r)
		return
	}
	tok := r.Header.Get("X-Auth-Token")
	if !f.tokens[tok] {
		reply(w, 401, map[string]any{"code": "APIGW.0301", "message": "Incorrect IAM authentication information"})
		return
	}
	f.calls++
	if f.calls == 3 { // revoke the token in use
		delete(f.tokens, tok)
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(p) == 2 && p[0] == "v2" && p[1] == "zones" && r.Method == http.MethodGet:
		var zones []zone
		for _, z := range []zone{{"zid-1", "casket.test."}, {"zid-2", "other.test."}} {
			if n := r.URL.Query().Get("name"); n == "" || n == z.Name {
				zones = append(zones, z)
			}
		}
		reply(w, 200, map[string]any{"zones": zones, "links": map[string]string{"self": f.url + r.URL.String()}})
	case len(p) >= 4 && p[0] == "v2" && p[1] == "zones" && p[3] == "recordsets" && p[2] != "zid-1":
		reply(w, 404, map[string]any{"code": "DNS.0101", "message": "The zone does not exist."})
	case len(p) == 4 && r.Method == http.MethodGet:
		f.list(w, r)
	case len(p) == 4 && r.Method == http.MethodPost:
		if !f.throttled {
			f.throttled = true
			w.Header().Set("Retry-After", "0")
			reply(w, 429, map[string]any{"code": "APIGW.0308", "message": "The throttling threshold has been reached"})
			return
		}
		var s recordset
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil || !strings.HasSuffix(s.Name, ".casket.test.") || len(s.Records) == 0 {
			reply(w, 400, map[string]any{"code": "DNS.0303", "message": "invalid recordset"})
			return
		}
		for _, old := range f.sets {
			if old.Name == s.Name && old.Type == s.Type {
				reply(w, 400, map[string]any{"code": "DNS.0312", "message": "Record set with the same name and type already exists"})
				return
			}
		}
		f.next++
		s.ID = fmt.Sprint("new", f.next)
		f.sets[s.ID] = &s
		reply(w, 202, s)
	case len(p) == 5 && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		s, ok := f.sets[p[4]]
		if !ok {
			reply(w, 404, map[string]any{"code": "DNS.0304", "message": "The record set does not exist."})
			return
		}
		if r.Method == http.MethodDelete {
			delete(f.sets, p[4])
			reply(w, 202, s)
			return
		}
		var u recordset
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil || len(u.Records) == 0 {
			reply(w, 400, map[string]any{"code": "DNS.0303", "message": "records required"})
			return
		}
		s.Records, s.TTL = u.Records, u.TTL
		reply(w, 202, s)
	default:
		reply(w, 404, map[string]any{"code": "APIGW.0101", "message": "The API does not exist"})
	}
}

func (f *fakeOTC) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Auth struct {
			Identity struct {
				Methods  []string
				Password struct {
					User struct {
						Name, Password string
						Domain         struct{ Name string }
					}
				}
			}
			Scope struct{ Project struct{ Name string } }
		}
	}
	json.NewDecoder(r.Body).Decode(&body)
	u := body.Auth.Identity.Password.User
	if r.Method != http.MethodPost || len(body.Auth.Identity.Methods) != 1 || body.Auth.Identity.Methods[0] != "password" ||
		u.Name != "casket-user" || u.Password != "otc-password" || u.Domain.Name != "OTC-EU-DE-0001" || body.Auth.Scope.Project.Name != "eu-de_casket" {
		reply(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})
		return
	}
	f.logins++
	tok := fmt.Sprint("token-", f.logins)
	f.tokens[tok] = true
	w.Header().Set("X-Subject-Token", tok)
	reply(w, 201, map[string]any{"token": map[string]any{
		"expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
		"methods":    []string{"password"},
		"catalog": []map[string]any{
			{"type": "identity", "name": "iam", "endpoints": []map[string]string{{"interface": "public", "region": "eu-de", "url": f.url + "/v3"}}},
			{"type": "dns", "name": "dns", "endpoints": []map[string]string{{"interface": "public", "region": "eu-de", "url": f.url}}},
		},
	}})
}

func (f *fakeOTC) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var all []*recordset
	for _, s := range f.sets {
		if (q.Get("name") == "" || q.Get("name") == s.Name) && (q.Get("type") == "" || q.Get("type") == s.Type) {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	start := 0
	if m := q.Get("marker"); m != "" {
		for start < len(all) && all[start].ID <= m {
			start++
		}
	}
	end := min(start+2, len(all))
	page := all[start:end]
	links := map[string]string{"self": f.url + r.URL.String()}
	if end < len(all) {
		q.Set("marker", all[end-1].ID)
		q.Set("limit", "2")
		links["next"] = f.url + r.URL.Path + "?" + q.Encode()
	}
	reply(w, 200, map[string]any{"recordsets": page, "links": links, "metadata": map[string]int{"total_count": len(all)}})
}

func (f *fakeOTC) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.sets {
		if s.Type == "TXT" && s.Name == fqdn {
			for _, v := range s.Records {
				out = append(out, strings.Trim(v, `"`))
			}
		}
	}
	return out
}

func TestNew(t *testing.T) {
	_, err := New(dnsconf.Config{Provider: "otc", LookupEnv: func(string) (string, bool) { return "", false }})
	for _, v := range []string{"OTC_DOMAIN_NAME", "OTC_USER_NAME", "OTC_PASSWORD", "OTC_PROJECT_NAME"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("err = %v, want it to name %s", err, v)
		}
	}
}

// TestFakeOTC runs the conformance test against servers following Keystone v3 and Designate v2.
func TestFakeOTC(t *testing.T) {
	f, srv := newFake(t)
	newP := func(pw string) *Provider {
		return &Provider{DomainName: "OTC-EU-DE-0001", UserName: "casket-user", Password: pw, ProjectName: "eu-de_casket",
			IdentityEndpoint: srv.URL + "/v3/auth/tokens", MinWait: 1}
	}
	p := newP("otc-password")
	conformance.Run(t, p, "casket.test.", conformance.Options{Lookup: f.txt})
	if f.logins < 2 {
		t.Errorf("logins = %d; the revoked token was not renewed", f.logins)
	}
	if !f.throttled {
		t.Error("nothing created")
	}
	ctx := context.Background()
	t.Run("paginated listing", func(t *testing.T) {
		all, err := p.GetRecords(ctx, "casket.test")
		if err != nil || len(all) != 3 {
			t.Errorf("got %v, %v", all, err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := newP("wrong-password").GetRecords(ctx, "casket.test")
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		_, err := p.AppendRecords(ctx, "nope.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "no zone named nope.test.") {
			t.Errorf("err = %v", err)
		}
	})
}
