package recs

import (
	"slices"
	"strings"
	"time"

	"github.com/libdns/libdns"
)

// This file holds the RRset merge the providers whose APIs replace whole record sets share (pdns, route53,
// otc): appends are grouped by name and type and added to the values already there, deletions remove
// values and say whether the set is left empty. How a set is read and written stays in each provider.

// Key names an RRset: its absolute name, lower-case with the trailing dot, and its upper-case type.
type Key struct{ Name, Type string }

// KeyOf returns the RRset rr belongs to in zone (an empty type stays empty: any type, for deletions).
func KeyOf(rr libdns.RR, zone string) Key {
	return Key{FQDN(rr.Name, zone), strings.ToUpper(rr.Type)}
}

// Add is one record to append, in the form the APIs write it.
type Add struct {
	Key
	TTL  int    // whole seconds, at least 1; the provider's default when the record has none
	Data string // as the record carries it (TXT unquoted)
}

// NewAdd normalizes r for appending to zone; defTTL (seconds) is the TTL of a record without one.
func NewAdd(zone string, r libdns.Record, defTTL int) Add {
	rr := r.RR()
	a := Add{Key: KeyOf(rr, zone), TTL: TTLSeconds(rr.TTL, 1), Data: rr.Data}
	if rr.TTL == 0 {
		a.TTL = defTTL
	}
	return a
}

// Value returns the data as the APIs take it (see APIValue).
func (a Add) Value() string {
	return APIValue(a.Type, a.Data)
}

// Result returns the record as AppendRecords reports it: named relative to zone, with the TTL written.
func (a Add) Result(zone string) libdns.Record {
	return Typed(libdns.RR{Name: Relative(a.Name, zone), TTL: time.Duration(a.TTL) * time.Second, Type: a.Type, Data: a.Data})
}

// Group is what one AppendRecords call adds to one RRset.
type Group struct {
	Key
	TTL    int      // the last record's: a set has one TTL, and each record appended sets it
	Values []string // as the API takes them (see Add.Value), in the order given
}

// Groups normalizes in (see NewAdd) and groups it by RRset, in the order the sets first appear. results
// are the records as AppendRecords reports them, in the order of in.
func Groups(zone string, in []libdns.Record, defTTL int) (groups []Group, results []libdns.Record) {
	at := map[Key]int{}
	for _, r := range in {
		a := NewAdd(zone, r, defTTL)
		i, ok := at[a.Key]
		if !ok {
			i = len(groups)
			at[a.Key] = i
			groups = append(groups, Group{Key: a.Key})
		}
		groups[i].TTL = a.TTL
		groups[i].Values = append(groups[i].Values, a.Value())
		results = append(results, a.Result(zone))
	}
	return groups, results
}

// Merge returns the values of an RRset after appending add: cur, then each value of add not already
// there. A set holds a value once (PowerDNS and Route 53 reject a set that repeats one).
func Merge(cur, add []string) []string {
	same := func(s string) string { return s }
	return MergeFunc(cur, add, same, same)
}

// MergeFunc is Merge for a provider's own value type: content returns a value's data as the API takes it,
// value makes a new value from such data. Values already in cur are kept as they are.
func MergeFunc[V any](cur []V, add []string, content func(V) string, value func(string) V) []V {
	out := slices.Clip(cur) // appending never writes into the caller's array
	for _, s := range add {
		dup := false
		for _, v := range out {
			dup = dup || content(v) == s
		}
		if !dup {
			out = append(out, value(s))
		}
	}
	return out
}

// Outcome is what a deletion does to an RRset.
type Outcome int

const (
	// Unchanged: no value matched; nothing to write.
	Unchanged Outcome = iota
	// Emptied: every value matched; delete the set.
	Emptied
	// Shrunk: some values matched; write the set back with the values kept.
	Shrunk
)

// Remove applies the deletions want (libdns's DeleteRecords rules, see Matches) to the values of one
// RRset; have returns a value as the record it is in zone. It returns the values kept, the records
// removed and what becomes of the set.
func Remove[V any](zone string, values []V, want []libdns.Record, have func(V) libdns.Record) (keep []V, removed []libdns.Record, o Outcome) {
	for _, v := range values {
		h := have(v)
		hit := false
		for _, w := range want {
			if Matches(w.RR(), h.RR(), zone) {
				hit = true
				break
			}
		}
		if hit {
			removed = append(removed, h)
		} else {
			keep = append(keep, v)
		}
	}
	switch {
	case len(removed) == 0:
		return keep, nil, Unchanged
	case len(keep) == 0:
		return nil, removed, Emptied
	default:
		return keep, removed, Shrunk
	}
}

// APIValue returns data as the APIs take it for a record of type typ: TXT in zone-file quoting (see
// QuoteTXT), others as they are.
func APIValue(typ, data string) string {
	if typ == "TXT" {
		return QuoteTXT(data)
	}
	return data
}

// Read returns one value of an RRset as an API lists it (absolute name, TTL in seconds, TXT in zone-file
// quoting) as a libdns record named relative to zone.
func Read(zone, name, typ string, ttl int, value string) libdns.Record {
	if typ == "TXT" {
		value = UnquoteTXT(value)
	}
	return Typed(libdns.RR{Name: Relative(name, zone), TTL: time.Duration(ttl) * time.Second, Type: typ, Data: value})
}
