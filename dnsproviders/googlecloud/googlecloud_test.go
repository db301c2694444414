package googlecloud

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/libdns/libdns"
	gdns "google.golang.org/api/dns/v1"
)

// fakeCloudDNS follows Google Cloud DNS API v1 (dns/v1) and the OAuth 2.0 service-account flow: the
// client posts a JWT (RS256, signed with the service account key, iss = client_email, aud = token_uri,
// scope with ndev.clouddns.readwrite) to token_uri and gets an access token, which every API call must
// carry (401 UNAUTHENTICATED otherwise). Managed zones are looked up by dnsName, record sets are listed
// 2 per page with nextPageToken, changes must delete sets exactly as they are (412 otherwise) and may not
// add an existing set (409), the first change gets 429 RESOURCE_EXHAUSTED, and changes are "pending" until
// fetched once.
type fakeCloudDNS struct {
	mu        sync.Mutex
	pub       *rsa.PublicKey
	email     string
	tokenURI  string
	token     string
	sets      map[string]*gdns.ResourceRecordSet // "name type" in zone casket-zone
	changes   int
	throttled bool
	issued    int
}

func newFake(t *testing.T) (*fakeCloudDNS, *httptest.Server, []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCloudDNS{pub: &key.PublicKey, email: "casket@casket-project.iam.gserviceaccount.com", token: "ya29.fake-access-token",
		sets: map[string]*gdns.ResourceRecordSet{}}
	for _, n := range []string{"a", "b", "c"} {
		f.sets[n+".casket.test. A"] = &gdns.ResourceRecordSet{Name: n + ".casket.test.", Type: "A", Ttl: 300, Rrdatas: []string{"192.0.2.1"}}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.tokenURI = srv.URL + "/token"
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "casket-project", "private_key_id": "kid1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.email, "client_id": "1", "token_uri": f.tokenURI,
	})
	return f, srv, sa
}

func gerr(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status,
		"errors": []map[string]string{{"message": msg, "reason": strings.ToLower(status)}}}})
}

func ok(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// checkJWT verifies the grant's assertion.
func (f *fakeCloudDNS) checkJWT(assertion string) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("bad signature")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Iss, Aud, Scope string
		Exp             int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	if c.Iss != f.email || c.Aud != f.tokenURI || !strings.Contains(c.Scope, "ndev.clouddns.readwrite") || c.Exp < time.Now().Unix() {
		return fmt.Errorf("bad claims %+v", c)
	}
	return nil
}

func (f *fakeCloudDNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/token" {
		if r.Method != http.MethodPost || r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			gerr(w, 400, "invalid_grant", "unsupported grant")
			return
		}
		if err := f.checkJWT(r.FormValue("assertion")); err != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, err.Error())
			return
		}
		f.issued++
		ok(w, map[string]any{"access_token": f.token, "token_type": "Bearer", "expires_in": 3600})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		gerr(w, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
		return
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(p) < 5 || p[0] != "dns" || p[1] != "v1" || p[2] != "projects" || p[4] != "managedZones" {
		gerr(w, 404, "NOT_FOUND", "no such method")
		return
	}
	if p[3] != "casket-project" {
		gerr(w, 403, "PERMISSION_DENIED", "Forbidden")
		return
	}
	switch {
	case len(p) == 5 && r.Method == http.MethodGet:
		var zones []map[string]string
		for _, z := range []map[string]string{{"name": "casket-private", "dnsName": "casket.test.", "visibility": "private"},
			{"name": "casket-zone", "dnsName": "casket.test.", "visibility": "public"}, {"name": "other", "dnsName": "other.test.", "visibility": "public"}} {
			if dn := r.URL.Query().Get("dnsName"); dn == "" || dn == z["dnsName"] {
				zones = append(zones, z)
			}
		}
		ok(w, map[string]any{"managedZones": zones})
	case len(p) >= 7 && p[5] != "casket-zone":
		gerr(w, 404, "NOT_FOUND", "The 'parameters.managedZone' resource named '"+p[5]+"' does not exist.")
	case len(p) == 7 && p[6] == "rrsets" && r.Method == http.MethodGet:
		f.list(w, r)
	case len(p) == 7 && p[6] == "changes" && r.Method == http.MethodPost:
		f.change(w, r)
	case len(p) == 8 && p[6] == "changes" && r.Method == http.MethodGet:
		ok(w, map[string]string{"id": p[7], "status": "done", "kind": "dns#change"})
	default:
		gerr(w, 404, "NOT_FOUND", "no such method")
	}
}

func (f *fakeCloudDNS) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var all []*gdns.ResourceRecordSet
	for _, s := range f.sets {
		if (q.Get("name") == "" || q.Get("name") == s.Name) && (q.Get("type") == "" || q.Get("type") == s.Type) {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name+all[i].Type < all[j].Name+all[j].Type })
	start, _ := strconv.Atoi(q.Get("pageToken"))
	end := min(start+2, len(all))
	resp := map[string]any{"rrsets": all[min(start, len(all)):end], "kind": "dns#resourceRecordSetsListResponse"}
	if end < len(all) {
		resp["nextPageToken"] = strconv.Itoa(end)
	}
	ok(w, resp)
}

func (f *fakeCloudDNS) change(w http.ResponseWriter, r *http.Request) {
	if !f.throttled {
		f.throttled = true
		gerr(w, 429, "RESOURCE_EXHAUSTED", "Rate Limit Exceeded")
		return
	}
	var c gdns.Change
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		gerr(w, 400, "INVALID_ARGUMENT", "bad change")
		return
	}
	next := map[string]*gdns.ResourceRecordSet{}
	for k, v := range f.sets {
		next[k] = v
	}
	for i, d := range c.Deletions {
		cur := next[d.Name+" "+d.Type]
		if cur == nil || cur.Ttl != d.Ttl || strings.Join(cur.Rrdatas, "\x00") != strings.Join(d.Rrdatas, "\x00") {
			gerr(w, 412, "FAILED_PRECONDITION", fmt.Sprintf("Precondition not met for 'entity.change.deletions[%d]'", i))
			return
		}
		delete(next, d.Name+" "+d.Type)
	}
	for i, a := range c.Additions {
		if next[a.Name+" "+a.Type] != nil {
			gerr(w, 409, "ALREADY_EXISTS", fmt.Sprintf("The resource 'entity.change.additions[%d]' named '%s (%s)' already exists", i, a.Name, a.Type))
			return
		}
		if a.Ttl <= 0 || len(a.Rrdatas) == 0 || !strings.HasSuffix(a.Name, "casket.test.") {
			gerr(w, 400, "INVALID_ARGUMENT", "invalid record set")
			return
		}
		for _, v := range a.Rrdatas {
			if a.Type == "TXT" && !strings.HasPrefix(v, `"`) {
				gerr(w, 400, "INVALID_ARGUMENT", "TXT data must be quoted")
				return
			}
		}
		next[a.Name+" "+a.Type] = a
	}
	f.sets = next
	f.changes++
	ok(w, map[string]string{"id": strconv.Itoa(f.changes), "status": "pending", "kind": "dns#change"})
}

func (f *fakeCloudDNS) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	if s := f.sets[fqdn+" TXT"]; s != nil {
		for _, v := range s.Rrdatas {
			out = append(out, strings.Trim(v, `"`))
		}
	}
	return out
}

func TestNew(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	_, err := New(dnsconf.Config{Provider: "googlecloud", LookupEnv: none})
	if err == nil || !strings.Contains(err.Error(), "GCE_PROJECT") {
		t.Fatalf("err = %v", err)
	}
	_, _, sa := newFake(t)
	file := filepath.Join(t.TempDir(), "sa.json")
	os.WriteFile(file, sa, 0o600)
	p, err := New(dnsconf.Config{Provider: "googlecloud", LookupEnv: func(k string) (string, bool) { return file, k == "GOOGLE_APPLICATION_CREDENTIALS" }})
	if err != nil || p.Project != "casket-project" {
		t.Fatalf("p = %+v, err = %v", p, err)
	}
	p, err = New(dnsconf.Config{Provider: "googlecloud", LookupEnv: func(k string) (string, bool) { return file, k == "GCE_SERVICE_ACCOUNT_FILE" }})
	if err != nil || p.Project != "casket-project" || p.CredentialsJSON == nil {
		t.Fatalf("GCE_SERVICE_ACCOUNT_FILE: p = %+v, err = %v", p, err)
	}
	os.WriteFile(file, []byte(`{"type":"authorized_user"}`), 0o600)
	if _, err := New(dnsconf.Config{Provider: "googlecloud", LookupEnv: func(k string) (string, bool) { return file, k == "GCE_SERVICE_ACCOUNT_FILE" }}); err == nil {
		t.Error("a user credential accepted as a service account")
	}
	// Application Default Credentials of another kind are left to the Google libraries
	env := map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": file, "GCE_PROJECT": "p1"}
	p, err = New(dnsconf.Config{Provider: "googlecloud", LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil || p.CredentialsJSON != nil || p.Project != "p1" {
		t.Errorf("ADC user credentials: p = %+v, err = %v", p, err)
	}
}

// TestFakeCloudDNS runs the conformance test against a server following Cloud DNS API v1 and Google's
// OAuth 2.0 token endpoint.
func TestFakeCloudDNS(t *testing.T) {
	f, srv, sa := newFake(t)
	p := &Provider{Project: "casket-project", CredentialsJSON: sa, Endpoint: srv.URL + "/", MinWait: time.Millisecond}
	conformance.Run(t, p, "casket.test.", conformance.Options{Lookup: f.txt})
	if f.issued == 0 || !f.throttled {
		t.Errorf("tokens issued %d, throttled %v", f.issued, f.throttled)
	}
	if got := f.txt("x.casket.test."); got != nil {
		t.Error("unexpected records")
	}
	ctx := context.Background()
	t.Run("paginated listing", func(t *testing.T) {
		all, err := p.GetRecords(ctx, "casket.test")
		if err != nil || len(all) != 3 {
			t.Errorf("got %v, %v", all, err)
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		_, err := p.AppendRecords(ctx, "nope.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "no managed zone for nope.test") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		_, _, other := newFake(t) // a key the server does not know
		var m map[string]string
		json.Unmarshal(other, &m)
		m["token_uri"] = f.tokenURI
		bad, _ := json.Marshal(m)
		q := &Provider{Project: "casket-project", CredentialsJSON: bad, Endpoint: srv.URL + "/"}
		_, err := q.GetRecords(ctx, "casket.test")
		if err == nil || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("err = %v", err)
		}
	})
}
