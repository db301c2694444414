// Package conformance is the test every Casket DNS provider passes: append, get, delete and idempotent
// delete of TXT records under the libdns v1 contract, including two values at one name (as a certificate
// for example.com and *.example.com needs) and deletion by name and type or by name alone.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
)

// Provider is what is tested: libdns.RecordAppender and libdns.RecordDeleter, and libdns.RecordGetter
// when implemented.
type Provider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Options tune the test.
type Options struct {
	// Lookup, when set, reads the TXT values of an absolute name out of band (a DNS query to the real
	// server, or the fake API's state), to check the provider's work independently of GetRecords.
	Lookup func(fqdn string) []string
	// TTL of the test records; 0 means 60 s.
	TTL time.Duration
}

// Run runs the conformance test against p in zone (with or without a trailing dot).
func Run(t *testing.T, p Provider, zone string, opts Options) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ttl := opts.TTL
	if ttl == 0 {
		ttl = 60 * time.Second
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "_acme-challenge.conf-" + hex.EncodeToString(suffix)
	fqdn := name + "." + strings.TrimSuffix(zone, ".") + "."
	v1, v2 := "token-one-"+hex.EncodeToString(suffix), "token-two-"+hex.EncodeToString(suffix)
	getter, _ := p.(libdns.RecordGetter)

	values := func() []string {
		t.Helper()
		var out []string
		if getter != nil {
			recs, err := getter.GetRecords(ctx, zone)
			if err != nil {
				t.Fatalf("GetRecords: %v", err)
			}
			for _, r := range recs {
				rr := r.RR()
				if rr.Type == "TXT" && strings.EqualFold(rr.Name, name) {
					if _, ok := r.(libdns.TXT); !ok {
						t.Errorf("GetRecords returned %T for a TXT record, want libdns.TXT", r)
					}
					out = append(out, rr.Data)
				}
			}
			slices.Sort(out)
		}
		if opts.Lookup != nil {
			seen := opts.Lookup(fqdn)
			slices.Sort(seen)
			if getter != nil && !slices.Equal(seen, out) {
				t.Errorf("GetRecords says %q but the server has %q", out, seen)
			}
			if getter == nil {
				out = seen
			}
		}
		return out
	}
	check := func(step string, want ...string) {
		t.Helper()
		if getter == nil && opts.Lookup == nil {
			return
		}
		if got := values(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("after %s: TXT %s = %q, want %q", step, name, got, want)
		}
	}

	check("nothing")
	added, err := p.AppendRecords(ctx, zone, []libdns.Record{libdns.TXT{Name: name, TTL: ttl, Text: v1}})
	if err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	wantRecords(t, "AppendRecords", added, name, v1)
	check("first append", v1)
	t.Cleanup(func() {
		_, _ = p.DeleteRecords(context.Background(), zone, []libdns.Record{libdns.RR{Name: name, Type: "TXT"}})
	})

	added, err = p.AppendRecords(ctx, zone, []libdns.Record{libdns.RR{Name: name, TTL: ttl, Type: "TXT", Data: v2}})
	if err != nil {
		t.Fatalf("second AppendRecords at the same name: %v", err)
	}
	wantRecords(t, "second AppendRecords", added, name, v2)
	check("second append", v1, v2)

	deleted, err := p.DeleteRecords(ctx, zone, []libdns.Record{libdns.TXT{Name: name, TTL: ttl, Text: v1}})
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	wantRecords(t, "DeleteRecords", deleted, name, v1)
	check("deleting the first", v2)

	deleted, err = p.DeleteRecords(ctx, zone, []libdns.Record{libdns.TXT{Name: name, TTL: ttl, Text: v1}})
	if err != nil {
		t.Fatalf("DeleteRecords of a deleted record must succeed: %v", err)
	}
	if len(deleted) != 0 {
		t.Errorf("DeleteRecords of a deleted record returned %v, want none", deleted)
	}
	check("deleting the first again", v2)

	deleted, err = p.DeleteRecords(ctx, zone, []libdns.Record{libdns.RR{Name: name, Type: "TXT"}})
	if err != nil {
		t.Fatalf("DeleteRecords by name and type: %v", err)
	}
	wantRecords(t, "DeleteRecords by name and type", deleted, name, v2)
	check("deleting the rest")

	v3 := "token-three-" + hex.EncodeToString(suffix)
	if _, err := p.AppendRecords(ctx, zone, []libdns.Record{libdns.TXT{Name: name, TTL: ttl, Text: v3}}); err != nil {
		t.Fatalf("AppendRecords after deleting everything: %v", err)
	}
	check("appending again", v3)
	deleted, err = p.DeleteRecords(ctx, zone, []libdns.Record{libdns.RR{Name: name}})
	if err != nil {
		t.Fatalf("DeleteRecords by name only: %v", err)
	}
	wantRecords(t, "DeleteRecords by name only", deleted, name, v3)
	check("deleting by name only")
}

// wantRecords checks that recs are exactly TXT records at name with values.
func wantRecords(t *testing.T, step string, recs []libdns.Record, name string, values ...string) {
	t.Helper()
	var got []string
	for _, r := range recs {
		rr := r.RR()
		if !strings.EqualFold(rr.Name, name) || rr.Type != "TXT" {
			t.Errorf("%s returned %+v, want TXT records named %s (relative to the zone)", step, rr, name)
		}
		got = append(got, rr.Data)
	}
	slices.Sort(got)
	if !slices.Equal(got, values) {
		t.Errorf("%s returned values %q, want %q", step, got, values)
	}
}
