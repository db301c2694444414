package gandiv5

import (
	"context"
	"encoding/json"
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

// fakeLiveDNS follows Gandi's LiveDNS API v5 (/v5/livedns): Authorization "Bearer <PAT>" or
// "Apikey <key>" (401 otherwise), RRsets addressed by /domains/{fqdn}/records/{name}/{type} (GET, PUT
// replacing the whole set with rrset_ttl >= 300 and non-empty rrset_values, DELETE), the RRsets of one name
// at /domains/{fqdn}/records/{name}, the record list paged
// with page/per_page and a Total-Count header, 404 for an unknown domain or RRset, and one 429 on the first PUT.
type fakeLiveDNS struct {
	mu        sync.Mutex
	pat, key  string
	sets      map[string]rrset // "name/type"
	throttled bool
	auths     map[string]int
}

func newFake(t *testing.T) (*fakeLiveDNS, *httptest.Server) {
	f := &fakeLiveDNS{pat: "pat-0123456789", key: "legacy-apikey-42", sets: map[string]rrset{}, auths: map[string]int{}}
	f.sets["@/A"] = rrset{Name: "@", Type: "A", TTL: 10800, Values: []string{"192.0.2.1"}}
	f.sets["www/CNAME"] = rrset{Name: "www", Type: "CNAME", TTL: 10800, Values: []string{"casket.test."}}
	f.sets["mail/A"] = rrset{Name: "mail", Type: "A", TTL: 10800, Values: []string{"192.0.2.3"}}
	srv := httptest.NewServer(http.StripPrefix("/v5/livedns", f))
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

func fail(w http.ResponseWriter, status int, cause, msg string) {
	reply(w, status, map[string]any{"code": status, "cause": cause, "message": msg, "object": "HTTP" + strings.ReplaceAll(cause, " ", "")})
}

func (f *fakeLiveDNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Header.Get("Authorization") {
	case "Bearer " + f.pat:
		f.auths["Bearer"]++
	case "Apikey " + f.key:
		f.auths["Apikey"]++
	default:
		fail(w, 401, "Unauthorized", "The server could not verify that you are authorized to access the URL requested.")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "domains" || parts[1] != "casket.test" {
		fail(w, 404, "Not Found", "Domain not found")
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		reply(w, 200, map[string]any{"fqdn": "casket.test", "automatic_snapshots": true})
	case len(parts) == 3 && parts[2] == "records" && r.Method == http.MethodGet:
		var all []rrset
		for _, s := range f.sets {
			all = append(all, s)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Name+all[i].Type < all[j].Name+all[j].Type })
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, per = max(page, 1), max(min(per, 2), 1) // the fake serves at most 2 per page
		lo, hi := min((page-1)*per, len(all)), min(page*per, len(all))
		w.Header().Set("Total-Count", strconv.Itoa(len(all)))
		reply(w, 200, all[lo:hi])
	case len(parts) == 4 && parts[2] == "records" && r.Method == http.MethodGet:
		var list []rrset
		for _, s := range f.sets {
			if s.Name == parts[3] {
				list = append(list, s)
			}
		}
		if len(list) == 0 {
			fail(w, 404, "Not Found", "Can't find the DNS record "+parts[3]+" in the zone")
			return
		}
		reply(w, 200, list)
	case len(parts) == 5 && parts[2] == "records":
		key := parts[3] + "/" + parts[4]
		switch r.Method {
		case http.MethodGet:
			s, ok := f.sets[key]
			if !ok {
				fail(w, 404, "Not Found", "Can't find the DNS record "+parts[3]+" in the zone")
				return
			}
			reply(w, 200, s)
		case http.MethodPut:
			if !f.throttled {
				f.throttled = true
				w.Header().Set("Retry-After", "0")
				fail(w, 429, "Too Many Requests", "Rate limit exceeded")
				return
			}
			var s rrset
			if err := json.NewDecoder(r.Body).Decode(&s); err != nil || len(s.Values) == 0 {
				fail(w, 400, "Bad Request", "rrset_values: required")
				return
			}
			if s.TTL < 300 {
				fail(w, 400, "Bad Request", "rrset_ttl: must be greater than or equal to 300")
				return
			}
			s.Name, s.Type = parts[3], parts[4]
			f.sets[key] = s
			reply(w, 201, map[string]string{"message": "DNS Record Created"})
		case http.MethodDelete:
			if _, ok := f.sets[key]; !ok {
				fail(w, 404, "Not Found", "Can't find the DNS record")
				return
			}
			delete(f.sets, key)
			reply(w, 204, nil)
		default:
			fail(w, 405, "Method Not Allowed", "method not allowed")
		}
	default:
		fail(w, 404, "Not Found", "not found")
	}
}

func (f *fakeLiveDNS) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, v := range f.sets[strings.TrimSuffix(fqdn, ".casket.test.")+"/TXT"].Values {
		out = append(out, strings.Trim(v, `"`))
	}
	return out
}

func TestNew(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	_, err := New(dnsconf.Config{Provider: "gandiv5", LookupEnv: none})
	if err == nil || !strings.Contains(err.Error(), "GANDIV5_PERSONAL_ACCESS_TOKEN") || !strings.Contains(err.Error(), "GANDIV5_API_KEY") {
		t.Fatalf("err = %v", err)
	}
	p, err := New(dnsconf.Config{Provider: "gandiv5", LookupEnv: func(k string) (string, bool) { return "k", k == "GANDIV5_API_KEY" }})
	if err != nil || p.APIKey != "k" {
		t.Fatalf("p = %+v, err = %v", p, err)
	}
}

// TestFakeLiveDNS runs the conformance test against a server following Gandi LiveDNS API v5, once with a
// personal access token and once with a legacy API key.
func TestFakeLiveDNS(t *testing.T) {
	for _, auth := range []string{"Bearer", "Apikey"} {
		t.Run(auth, func(t *testing.T) {
			f, srv := newFake(t)
			p := &Provider{BaseURL: srv.URL + "/v5/livedns", MinWait: 1}
			if auth == "Bearer" {
				p.PersonalAccessToken = f.pat
			} else {
				p.APIKey = f.key
			}
			conformance.Run(t, p, "casket.test.", conformance.Options{Lookup: f.txt, TTL: 300e9})
			if f.auths[auth] == 0 || len(f.auths) != 1 {
				t.Errorf("authorizations seen: %v", f.auths)
			}
			if !f.throttled {
				t.Error("nothing was written")
			}
		})
	}
	f, srv := newFake(t)
	ctx := context.Background()
	p := &Provider{PersonalAccessToken: f.pat, BaseURL: srv.URL + "/v5/livedns"}
	t.Run("paginated listing", func(t *testing.T) {
		all, err := p.GetRecords(ctx, "casket.test")
		if err != nil || len(all) != 3 {
			t.Errorf("got %v, %v", all, err)
		}
	})
	t.Run("unknown domain", func(t *testing.T) {
		_, err := p.AppendRecords(ctx, "nope.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		q := &Provider{PersonalAccessToken: "pat-wrong", BaseURL: srv.URL + "/v5/livedns"}
		_, err := q.GetRecords(ctx, "casket.test")
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "pat-wrong") {
			t.Errorf("err = %v", err)
		}
	})
}
