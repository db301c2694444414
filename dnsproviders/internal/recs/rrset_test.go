package recs

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
)

func TestNewAdd(t *testing.T) {
	tests := []struct {
		name string
		in   libdns.Record
		want Add
	}{
		{"relative name", libdns.TXT{Name: "_acme-challenge.www", TTL: time.Minute, Text: "v"},
			Add{Key{"_acme-challenge.www.casket.test.", "TXT"}, 60, "v"}},
		{"absolute name, mixed case", libdns.RR{Name: "_ACME-challenge.WWW.casket.test.", Type: "txt", TTL: 2 * time.Minute, Data: "v"},
			Add{Key{"_acme-challenge.www.casket.test.", "TXT"}, 120, "v"}},
		{"apex", libdns.RR{Name: "@", Type: "A", TTL: time.Hour, Data: "192.0.2.1"},
			Add{Key{"casket.test.", "A"}, 3600, "192.0.2.1"}},
		{"no TTL takes the default", libdns.TXT{Name: "x", Text: "v"}, Add{Key{"x.casket.test.", "TXT"}, 300, "v"}},
		{"under a second is one", libdns.TXT{Name: "x", TTL: 500 * time.Millisecond, Text: "v"}, Add{Key{"x.casket.test.", "TXT"}, 1, "v"}},
		{"fractions cut", libdns.TXT{Name: "x", TTL: 90*time.Second + 900*time.Millisecond, Text: "v"}, Add{Key{"x.casket.test.", "TXT"}, 90, "v"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewAdd("casket.test", tc.in, 300); got != tc.want {
				t.Errorf("NewAdd = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAddValueAndResult(t *testing.T) {
	a := Add{Key{"_acme-challenge.www.casket.test.", "TXT"}, 60, `say "hi"`}
	if got := a.Value(); got != `"say \"hi\""` {
		t.Errorf("Value = %s", got)
	}
	r, ok := a.Result("casket.test.").(libdns.TXT)
	if !ok || r.Name != "_acme-challenge.www" || r.TTL != time.Minute || r.Text != `say "hi"` {
		t.Errorf("Result = %#v", a.Result("casket.test."))
	}
	if got := (Add{Key{"casket.test.", "A"}, 60, "192.0.2.1"}).Value(); got != "192.0.2.1" {
		t.Errorf("A Value = %s", got)
	}
}

func TestGroups(t *testing.T) {
	tests := []struct {
		name    string
		in      []libdns.Record
		want    []Group
		results string
	}{
		{"one record", []libdns.Record{libdns.TXT{Name: "a", TTL: time.Minute, Text: "v1"}},
			[]Group{{Key{"a.casket.test.", "TXT"}, 60, []string{`"v1"`}}}, "a TXT 1m0s v1"},
		{"same set by other spellings, last TTL wins",
			[]libdns.Record{
				libdns.TXT{Name: "a", TTL: time.Minute, Text: "v1"},
				libdns.RR{Name: "A.casket.test.", Type: "txt", TTL: 2 * time.Minute, Data: "v2"},
			},
			[]Group{{Key{"a.casket.test.", "TXT"}, 120, []string{`"v1"`, `"v2"`}}},
			"a TXT 1m0s v1, a TXT 2m0s v2"},
		{"sets in first-seen order, results in input order",
			[]libdns.Record{
				libdns.TXT{Name: "b", TTL: time.Minute, Text: "v1"},
				libdns.RR{Name: "a", Type: "A", Data: "192.0.2.1"},
				libdns.TXT{Name: "b", TTL: time.Minute, Text: "v2"},
				libdns.RR{Name: "b", Type: "A", TTL: time.Minute, Data: "192.0.2.2"},
			},
			[]Group{
				{Key{"b.casket.test.", "TXT"}, 60, []string{`"v1"`, `"v2"`}},
				{Key{"a.casket.test.", "A"}, 300, []string{"192.0.2.1"}},
				{Key{"b.casket.test.", "A"}, 60, []string{"192.0.2.2"}},
			},
			"b TXT 1m0s v1, a A 5m0s 192.0.2.1, b TXT 1m0s v2, b A 1m0s 192.0.2.2"},
		{"duplicates are passed on (Merge drops them)",
			[]libdns.Record{libdns.TXT{Name: "a", TTL: time.Minute, Text: "v"}, libdns.TXT{Name: "a", TTL: time.Minute, Text: "v"}},
			[]Group{{Key{"a.casket.test.", "TXT"}, 60, []string{`"v"`, `"v"`}}}, "a TXT 1m0s v, a TXT 1m0s v"},
		{"nothing", nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			groups, results := Groups("casket.test", tc.in, 300)
			if fmt.Sprint(groups) != fmt.Sprint(tc.want) {
				t.Errorf("groups = %v, want %v", groups, tc.want)
			}
			var got []string
			for _, r := range results {
				rr := r.RR()
				got = append(got, fmt.Sprintf("%s %s %v %s", rr.Name, rr.Type, rr.TTL, rr.Data))
			}
			if s := strings.Join(got, ", "); s != tc.results {
				t.Errorf("results = %s, want %s", s, tc.results)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name           string
		cur, add, want []string
	}{
		{"to an empty set", nil, []string{`"v1"`}, []string{`"v1"`}},
		{"to an existing set", []string{`"v1"`}, []string{`"v2"`, `"v3"`}, []string{`"v1"`, `"v2"`, `"v3"`}},
		{"a value already there", []string{`"v1"`, `"v2"`}, []string{`"v2"`}, []string{`"v1"`, `"v2"`}},
		{"a value twice", nil, []string{`"v1"`, `"v1"`}, []string{`"v1"`}},
		{"case matters", []string{`"v"`}, []string{`"V"`}, []string{`"v"`, `"V"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Merge(tc.cur, tc.add); !slices.Equal(got, tc.want) {
				t.Errorf("Merge = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("own values kept as they are, caller's array untouched", func(t *testing.T) {
		type val struct {
			C        string
			Disabled bool
		}
		cur := make([]val, 1, 4)
		cur[0] = val{`"v1"`, true}
		got := MergeFunc(cur, []string{`"v1"`, `"v2"`}, func(v val) string { return v.C }, func(s string) val { return val{C: s} })
		if want := []val{{`"v1"`, true}, {`"v2"`, false}}; !slices.Equal(got, want) {
			t.Errorf("MergeFunc = %v, want %v", got, want)
		}
		if cur[:2][1] != (val{}) {
			t.Error("MergeFunc wrote into the caller's array")
		}
	})
}

func TestRemove(t *testing.T) {
	// A set as an API lists it: TTL 60, TXT values quoted.
	set := []string{`"v1"`, `"v2"`}
	have := func(v string) libdns.Record { return Read("casket.test.", "a.casket.test.", "TXT", 60, v) }
	tests := []struct {
		name    string
		want    []libdns.Record
		keep    []string
		removed string
		o       Outcome
	}{
		{"no match", []libdns.Record{libdns.TXT{Name: "a", Text: "v9"}}, set, "", Unchanged},
		{"other name", []libdns.Record{libdns.RR{Name: "b", Type: "TXT"}}, set, "", Unchanged},
		{"other TTL", []libdns.Record{libdns.TXT{Name: "a", TTL: time.Hour, Text: "v1"}}, set, "", Unchanged},
		{"one value", []libdns.Record{libdns.TXT{Name: "a", TTL: time.Minute, Text: "v1"}}, []string{`"v2"`}, "v1", Shrunk},
		{"the last value", []libdns.Record{libdns.TXT{Name: "a", Text: "v1"}, libdns.TXT{Name: "A.casket.test.", Text: "v2"}}, nil, "v1 v2", Emptied},
		{"by name and type", []libdns.Record{libdns.RR{Name: "a", Type: "txt"}}, nil, "v1 v2", Emptied},
		{"by name only", []libdns.Record{libdns.RR{Name: "a"}}, nil, "v1 v2", Emptied},
		{"nothing asked", nil, set, "", Unchanged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keep, removed, o := Remove("casket.test.", set, tc.want, have)
			var got []string
			for _, r := range removed {
				if _, ok := r.(libdns.TXT); !ok || r.RR().Name != "a" || r.RR().TTL != time.Minute {
					t.Errorf("removed %#v", r)
				}
				got = append(got, r.RR().Data)
			}
			if !slices.Equal(keep, tc.keep) || strings.Join(got, " ") != tc.removed || o != tc.o {
				t.Errorf("Remove = %q, %q, %v; want %q, %q, %v", keep, got, o, tc.keep, tc.removed, tc.o)
			}
		})
	}
	if _, _, o := Remove("casket.test.", []string(nil), []libdns.Record{libdns.RR{Name: "a"}}, have); o != Unchanged {
		t.Errorf("empty set: %v", o)
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name                string
		setName, typ, value string
		ttl                 int
		wantName, wantData  string
		wantTTL             time.Duration
		txt                 bool
	}{
		{"TXT unquoted", "_acme-challenge.WWW.casket.test.", "TXT", `"a" "b"`, 60, "_acme-challenge.www", "ab", time.Minute, true},
		{"apex A", "casket.test.", "A", "192.0.2.1", 5, "@", "192.0.2.1", 5 * time.Second, false},
		{"no trailing dot", "x.casket.test", "TXT", `"v"`, 0, "x", "v", 0, true},
		{"lower-case txt left as is", "x.casket.test.", "txt", `"v"`, 1, "x", `"v"`, time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Read("casket.test", tc.setName, tc.typ, tc.ttl, tc.value)
			rr := r.RR()
			_, isTXT := r.(libdns.TXT)
			if rr.Name != tc.wantName || rr.Data != tc.wantData || rr.TTL != tc.wantTTL || isTXT != tc.txt {
				t.Errorf("Read = %#v", r)
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	if got := KeyOf(libdns.RR{Name: "WWW"}, "casket.test"); got != (Key{"www.casket.test.", ""}) {
		t.Errorf("KeyOf = %+v", got)
	}
}
