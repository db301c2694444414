// Package wiretest pins what a DNS provider sends to its API: it runs a fixed scenario of appends and
// deletes through a recording proxy and compares the transcript (every request's method, path, query and
// body, and every call's result) with a golden file, so that a refactoring that changes the wire fails.
package wiretest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"
)

var update = flag.Bool("update-wire", false, "rewrite the wiretest golden files")

// Provider is what the scenario drives.
type Provider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Recorder is an HTTP server in front of an API that logs each request before passing it on.
type Recorder struct {
	URL string // the recorder's base URL: point the provider here

	mu    sync.Mutex
	lines []string
}

// NewRecorder starts a Recorder in front of api (a fake, or a reverse proxy to a real server); it stops
// when the test ends.
func NewRecorder(t testing.TB, api http.Handler) *Recorder {
	t.Helper()
	rec := &Recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.log(r.Method + " " + r.URL.RequestURI() + " " + strings.TrimSpace(string(body)))
		r.Body = io.NopCloser(bytes.NewReader(body))
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

func (rec *Recorder) log(line string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.lines = append(rec.lines, strings.ReplaceAll(line, rec.URL, "{recorder}"))
}

// Step is one call of the scenario.
type Step struct {
	Name   string
	Delete bool // DeleteRecords, else AppendRecords
	Recs   []libdns.Record
}

// Scenario returns the fixed steps, in zone, around name (an A record set that exists before, with other
// values) and new TXT names below it.
func Scenario(existingA string) []Step {
	long := strings.Repeat("x", 300)
	return []Step{
		{"append to two new sets and an existing one, TTLs mixed", false, []libdns.Record{
			libdns.TXT{Name: "_acme-challenge.wire", TTL: time.Minute, Text: "v1"},
			libdns.RR{Name: "_ACME-challenge.WIRE", Type: "txt", TTL: 2 * time.Minute, Data: "v2"},
			libdns.RR{Name: existingA, Type: "A", Data: "192.0.2.9"},
			libdns.TXT{Name: "_acme-challenge.long", TTL: 500 * time.Millisecond, Text: long + ` "q" \b`},
		}},
		{"append to an existing set", false, []libdns.Record{libdns.TXT{Name: "_acme-challenge.wire", TTL: time.Minute, Text: "v3"}}},
		{"delete one value and one that is not there", true, []libdns.Record{
			libdns.TXT{Name: "_acme-challenge.wire", TTL: time.Minute, Text: "v1"},
			libdns.RR{Name: "_acme-challenge.wire", Type: "TXT", Data: "nope"},
		}},
		{"delete by name only", true, []libdns.Record{libdns.RR{Name: "_acme-challenge.long"}}},
		{"delete the added A value", true, []libdns.Record{libdns.RR{Name: existingA, Type: "A", Data: "192.0.2.9"}}},
		{"delete by name and type", true, []libdns.Record{libdns.RR{Name: "_acme-challenge.wire", Type: "TXT"}}},
		{"delete what is gone", true, []libdns.Record{libdns.RR{Name: "_acme-challenge.wire", Type: "TXT"}}},
	}
}

// Run runs steps against p in zone, logging each call and its result with the requests it made.
func (rec *Recorder) Run(t testing.TB, p Provider, zone string, steps []Step) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range steps {
		rec.log("## " + s.Name)
		var got []libdns.Record
		var err error
		if s.Delete {
			got, err = p.DeleteRecords(ctx, zone, s.Recs)
		} else {
			got, err = p.AppendRecords(ctx, zone, s.Recs)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "=> err=%v", err)
		for _, r := range got {
			rr := r.RR()
			fmt.Fprintf(&b, " | %T %s %s %v %q", r, rr.Name, rr.Type, rr.TTL, rr.Data)
		}
		rec.log(b.String())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return strings.Join(rec.lines, "\n") + "\n"
}

// Golden compares got with the file at path (rewritten instead with -update-wire).
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-wire to create it)", err)
	}
	if string(want) == got {
		return
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Fatalf("%s: line %d differs:\nwant %s\ngot  %s", path, i+1, w, g)
		}
	}
}

// Getter is a Provider that lists records too.
type Getter interface {
	Provider
	libdns.RecordGetter
}

// AppendExisting checks that appending a value its set already holds, again or twice in one call,
// succeeds and leaves the value there once (the APIs reject a set that repeats a value).
func AppendExisting(t *testing.T, p Getter, zone string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := libdns.TXT{Name: "_acme-challenge.again", TTL: time.Minute, Text: "same"}
	for _, in := range [][]libdns.Record{{r, r}, {r}} {
		if _, err := p.AppendRecords(ctx, zone, in); err != nil {
			t.Fatalf("AppendRecords(%d records): %v", len(in), err)
		}
		all, err := p.GetRecords(ctx, zone)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rec := range all {
			if rr := rec.RR(); rr.Name == r.Name && rr.Type == "TXT" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("after appending %d records: %d values at %s, want 1", len(in), n, r.Name)
		}
	}
	if _, err := p.DeleteRecords(ctx, zone, []libdns.Record{r}); err != nil {
		t.Fatal(err)
	}
}
