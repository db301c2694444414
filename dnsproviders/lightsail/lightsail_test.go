package lightsail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/dnsproviders/conformance"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/internal/awsconf"
	"github.com/casketserver/casket/dnsproviders/internal/awstest"
	"github.com/libdns/libdns"
)

// fakeLightsail follows the Lightsail API 2016-11-28 (AWS JSON 1.1: POST / with X-Amz-Target
// Lightsail_20161128.<Operation>) for GetDomain, CreateDomainEntry and DeleteDomainEntry: SigV4 with
// service "lightsail" in us-east-1 checked with the SDK's signer, 400 NotFoundException for an unknown
// domain or entry, entries addressed by id on delete, and one ThrottlingException on the first create.
type fakeLightsail struct {
	mu            sync.Mutex
	keyID, secret string
	entries       map[string]entry // id → entry, domain casket.test
	next          int
	throttled     bool
}

type entry struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name"`
	Target  string `json:"target"`
	Type    string `json:"type"`
	IsAlias bool   `json:"isAlias"`
}

func newFake(t *testing.T) (*fakeLightsail, *httptest.Server) {
	f := &fakeLightsail{keyID: "AKIDLIGHTSAIL", secret: "lightsail/secret", entries: map[string]entry{
		"e1": {ID: "e1", Name: "casket.test", Target: "192.0.2.1", Type: "A"},
		"e2": {ID: "e2", Name: "www.casket.test", Target: "192.0.2.1", Type: "A"},
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeLightsail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := awstest.VerifySigV4(r, body, f.keyID, f.secret, "lightsail", "us-east-1"); err != nil {
		fail(w, 400, "UnrecognizedClientException", err.Error())
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "Lightsail_20161128.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		fail(w, 400, "UnknownOperationException", "bad request")
		return
	}
	var in struct {
		DomainName  string `json:"domainName"`
		DomainEntry *entry `json:"domainEntry"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail(w, 400, "SerializationException", err.Error())
		return
	}
	if in.DomainName != "casket.test" {
		fail(w, 400, "NotFoundException", "The domain does not exist")
		return
	}
	operation := map[string]any{"operation": map[string]any{"id": "op", "status": "Succeeded", "createdAt": float64(time.Now().Unix())}}
	switch op {
	case "GetDomain":
		var list []entry
		for _, e := range f.entries {
			list = append(list, e)
		}
		reply(w, map[string]any{"domain": map[string]any{"name": "casket.test", "domainEntries": list}})
	case "CreateDomainEntry":
		if !f.throttled {
			f.throttled = true
			fail(w, 400, "ThrottlingException", "Rate exceeded")
			return
		}
		e := in.DomainEntry
		if e == nil || e.Name == "" || e.Type == "" || e.Target == "" || !strings.HasSuffix(e.Name, "casket.test") {
			fail(w, 400, "InvalidInputException", "domainEntry is invalid")
			return
		}
		f.next++
		e.ID = fmt.Sprint("n", f.next)
		f.entries[e.ID] = *e
		reply(w, operation)
	case "DeleteDomainEntry":
		e := in.DomainEntry
		if e == nil {
			fail(w, 400, "InvalidInputException", "domainEntry is required")
			return
		}
		cur, ok := f.entries[e.ID]
		if !ok || cur.Name != e.Name || cur.Target != e.Target || cur.Type != e.Type {
			fail(w, 400, "NotFoundException", "The domain entry does not exist")
			return
		}
		delete(f.entries, e.ID)
		reply(w, operation)
	default:
		fail(w, 400, "UnknownOperationException", op)
	}
}

func (f *fakeLightsail) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.entries {
		if e.Type == "TXT" && e.Name+"." == fqdn {
			out = append(out, strings.Trim(e.Target, `"`))
		}
	}
	return out
}

func TestNew(t *testing.T) {
	env := map[string]string{"AWS_SECRET_ACCESS_KEY": "only-the-secret", "DNS_ZONE": "example.com."}
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := New(dnsconf.Config{Provider: "lightsail", LookupEnv: look})
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || strings.Contains(err.Error(), "only-the-secret") {
		t.Fatalf("err = %v", err)
	}
	env["AWS_ACCESS_KEY_ID"] = "AKID"
	p, err := New(dnsconf.Config{Provider: "lightsail", LookupEnv: look})
	if err != nil || p.Domain != "example.com" || p.Region != "us-east-1" {
		t.Fatalf("p = %+v, err = %v", p, err)
	}
}

// TestFakeLightsail runs the conformance test against a server following Lightsail API 2016-11-28.
func TestFakeLightsail(t *testing.T) {
	f, srv := newFake(t)
	p := &Provider{Credentials: awsconf.Credentials{AccessKeyID: f.keyID, SecretAccessKey: f.secret, Region: "us-east-1"},
		Endpoint: srv.URL, minWait: 10 * time.Millisecond}
	conformance.Run(t, p, "casket.test.", conformance.Options{Lookup: f.txt})
	if !f.throttled {
		t.Error("nothing created")
	}
	ctx := context.Background()
	t.Run("DNS_ZONE names the domain", func(t *testing.T) {
		q := &Provider{Credentials: p.Credentials, Endpoint: srv.URL, Domain: "casket.test"}
		all, err := q.GetRecords(ctx, "sub.casket.test.")
		if err != nil || len(all) != 2 {
			t.Errorf("got %v, %v", all, err)
		}
	})
	t.Run("unknown domain", func(t *testing.T) {
		_, err := p.AppendRecords(ctx, "nope.test", []libdns.Record{libdns.TXT{Name: "x", Text: "v"}})
		if err == nil || !strings.Contains(err.Error(), "NotFoundException") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		q := &Provider{Credentials: awsconf.Credentials{AccessKeyID: f.keyID, SecretAccessKey: "wrong-secret", Region: "us-east-1"}, Endpoint: srv.URL}
		_, err := q.GetRecords(ctx, "casket.test")
		if err == nil || strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("err = %v", err)
		}
	})
}
