package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
)

// LockHolder checks a cluster.LockInspector: a and b are two clients of the same backend with holder ids
// holderA and holderB whose leases last ttl; abandon stops a's lease renewal, as a crash would.
func LockHolder(t *testing.T, a, b certmagic.Storage, holderA, holderB string, ttl time.Duration, abandon func()) {
	t.Helper()
	ctx := context.Background()
	inspect := func(s certmagic.Storage, name string) (string, time.Time, bool) {
		t.Helper()
		h, exp, ok, err := s.(cluster.LockInspector).LockHolder(ctx, name)
		if err != nil {
			t.Fatalf("LockHolder(%s): %v", name, err)
		}
		return h, exp, ok
	}
	if h, _, ok := inspect(b, "holder-free"); ok {
		t.Errorf("free lock reported held by %q", h)
	}

	before := time.Now()
	if err := a.Lock(ctx, "holder-a"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []certmagic.Storage{a, b} {
		h, exp, ok := inspect(s, "holder-a")
		if !ok || h != holderA {
			t.Errorf("holder = %q, %v; want %q, true", h, ok, holderA)
		}
		if exp.Before(before) || exp.After(time.Now().Add(ttl+100*time.Millisecond)) {
			t.Errorf("expires %v, want within %v of %v", exp, ttl, before)
		}
	}
	if err := a.Unlock(ctx, "holder-a"); err != nil {
		t.Fatal(err)
	}
	if h, _, ok := inspect(b, "holder-a"); ok {
		t.Errorf("released lock reported held by %q", h)
	}

	if err := b.Lock(ctx, "holder-b"); err != nil {
		t.Fatal(err)
	}
	if h, _, ok := inspect(a, "holder-b"); !ok || h != holderB {
		t.Errorf("holder = %q, %v; want %q, true", h, ok, holderB)
	}
	if err := b.Unlock(ctx, "holder-b"); err != nil {
		t.Fatal(err)
	}

	// an abandoned lease is held until it expires, and not after
	if err := a.Lock(ctx, "holder-crash"); err != nil {
		t.Fatal(err)
	}
	abandon()
	if h, _, ok := inspect(b, "holder-crash"); !ok || h != holderA {
		t.Errorf("abandoned lease before expiry: holder = %q, %v; want %q, true", h, ok, holderA)
	}
	time.Sleep(ttl + 200*time.Millisecond)
	if h, exp, ok := inspect(b, "holder-crash"); ok {
		t.Errorf("expired lease reported held by %q until %v", h, exp)
	}
}
