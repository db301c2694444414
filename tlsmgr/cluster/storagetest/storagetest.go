// Package storagetest is the conformance suite of the certmagic.Storage contract that every storage Casket
// offers for clustering must pass: values, directories, listings, fs.ErrNotExist, and locks that exclude
// each other within one client and across clients; for lease-based locks also expiry of an abandoned lock,
// the lease-lost signal and increasing fencing tokens.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
)

// Harness describes the backend under test.
type Harness struct {
	// New returns a new client of the same backend: values stored through one are seen by all. The suite
	// closes nothing; New registers its own cleanup.
	New func(t *testing.T) certmagic.Storage
	// Lease is set for lease-based backends; nil skips the lease tests.
	Lease *LeaseHarness
	// SlowLocks skips the locking tests under -short (certmagic's FileStorage polls locks once a second).
	SlowLocks bool
	// NoLocks skips the locking tests, for wrappers whose locks are the wrapped storage's.
	NoLocks bool
}

// LeaseHarness gives the suite what it needs to test leases.
type LeaseHarness struct {
	TTL time.Duration // the lease length of the clients New returns; short (about a second) keeps tests fast
	// Abandon makes s stop renewing its held leases without releasing them, as a crash would.
	Abandon func(s certmagic.Storage)
	// Expire removes the lock name on the backend whoever holds it, as a partition outlasting the lease would.
	Expire func(t *testing.T, s certmagic.Storage, name string)
}

// Run runs the suite. Each subtest works under its own key prefix, so backends may be shared.
func Run(t *testing.T, h Harness) {
	t.Run("StoreLoad", func(t *testing.T) { testStoreLoad(t, h) })
	t.Run("ExistsStat", func(t *testing.T) { testExistsStat(t, h) })
	t.Run("List", func(t *testing.T) { testList(t, h) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, h) })
	if h.NoLocks || h.SlowLocks && testing.Short() {
		t.Log("lock tests skipped: the backend's locks are tested elsewhere or are slow (-short)")
		return
	}
	t.Run("LockGoroutines", func(t *testing.T) {
		s := h.New(t)
		testExclusion(t, func(int) certmagic.Storage { return s })
	})
	t.Run("LockClients", func(t *testing.T) {
		clients := []certmagic.Storage{h.New(t), h.New(t), h.New(t)}
		testExclusion(t, func(i int) certmagic.Storage { return clients[i%len(clients)] })
	})
	t.Run("TryLockAndContext", func(t *testing.T) { testTryLock(t, h) })
	if h.Lease != nil {
		t.Run("AbandonedLeaseExpires", func(t *testing.T) { testAbandoned(t, h) })
		t.Run("LeaseLostSignal", func(t *testing.T) { testLeaseLost(t, h) })
		t.Run("Fencing", func(t *testing.T) { testFencing(t, h) })
		t.Run("FencedWrites", func(t *testing.T) { testFencedWrites(t, h) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// prefix returns a key prefix unique to this test run.
func prefix(t *testing.T) string {
	return fmt.Sprintf("st%d/%s", time.Now().UnixNano(), t.Name())
}

func mustStore(t *testing.T, s certmagic.Storage, key, val string) {
	t.Helper()
	if err := s.Store(ctxT(t), key, []byte(val)); err != nil {
		t.Fatalf("Store(%s): %v", key, err)
	}
}

func testStoreLoad(t *testing.T, h Harness) {
	s, other := h.New(t), h.New(t)
	ctx, p := ctxT(t), prefix(t)
	if _, err := s.Load(ctx, p+"/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist", err)
	}
	bin := []byte{0, 1, 2, 0xff, '\n', 0}
	if err := s.Store(ctx, p+"/a/bin", bin); err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, p+"/a/b.crt", "one")
	mustStore(t, s, p+"/a/b.crt", "two")
	for _, c := range []struct {
		key  string
		want []byte
	}{{p + "/a/bin", bin}, {p + "/a/b.crt", []byte("two")}} {
		got, err := other.Load(ctx, c.key)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Load(%s) from another client = %q, %v; want %q", c.key, got, err, c.want)
		}
	}
}

func testExistsStat(t *testing.T, h Harness) {
	s := h.New(t)
	ctx, p := ctxT(t), prefix(t)
	before := time.Now().Add(-2 * time.Second)
	mustStore(t, s, p+"/dir/sub/file.key", "12345")
	tests := []struct {
		name     string
		key      string
		exists   bool
		terminal bool
	}{
		{name: "file", key: p + "/dir/sub/file.key", exists: true, terminal: true},
		{name: "directory", key: p + "/dir/sub", exists: true},
		{name: "top directory", key: p + "/dir", exists: true},
		{name: "missing", key: p + "/dir/nope"},
		{name: "name prefix is no directory", key: p + "/dir/su"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Exists(ctx, tt.key); got != tt.exists {
				t.Errorf("Exists = %v, want %v", got, tt.exists)
			}
			info, err := s.Stat(ctx, tt.key)
			if !tt.exists {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Stat error = %v, want fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Key != tt.key || info.IsTerminal != tt.terminal {
				t.Errorf("Stat = %+v, want key %s terminal %v", info, tt.key, tt.terminal)
			}
			if tt.terminal && (info.Size < 5 || info.Modified.Before(before) || info.Modified.After(time.Now().Add(2*time.Second))) {
				t.Errorf("Stat = %+v, want size 5 (more if encrypted) and a current modification time", info)
			}
		})
	}
}

func testList(t *testing.T, h Harness) {
	s := h.New(t)
	ctx, p := ctxT(t), prefix(t)
	for _, k := range []string{"c/x.com/x.com.crt", "c/x.com/x.com.key", "c/y.com/y.com.crt", "c/top.json", "cz/other"} {
		mustStore(t, s, p+"/"+k, "v")
	}
	full := func(keys ...string) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = p + "/" + k
		}
		return out
	}
	tests := []struct {
		name      string
		dir       string
		recursive bool
		want      []string // exactly, in any order
		wantSub   []string // recursive: these at least (directories are optional)
	}{
		{name: "flat", dir: p + "/c", want: full("c/x.com", "c/y.com", "c/top.json")},
		{name: "flat leaf dir", dir: p + "/c/x.com", want: full("c/x.com/x.com.crt", "c/x.com/x.com.key")},
		{name: "recursive", dir: p + "/c", recursive: true, wantSub: full("c/x.com/x.com.crt", "c/x.com/x.com.key", "c/y.com/y.com.crt", "c/top.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.dir, tt.recursive)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if tt.want != nil {
				slices.Sort(tt.want)
				if !slices.Equal(got, tt.want) {
					t.Errorf("List = %q, want %q", got, tt.want)
				}
			}
			for _, w := range tt.wantSub {
				if !slices.Contains(got, w) {
					t.Errorf("List = %q, missing %s", got, w)
				}
			}
			for _, g := range got {
				if g == p+"/cz/other" || g == p+"/cz" {
					t.Errorf("List(%s) includes %s, a sibling with the same name prefix", tt.dir, g)
				}
			}
		})
	}
	if _, err := s.List(ctx, p+"/nope", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func testDelete(t *testing.T, h Harness) {
	s, other := h.New(t), h.New(t)
	ctx, p := ctxT(t), prefix(t)
	for _, k := range []string{"d/a/1", "d/a/2", "d/b", "da"} {
		mustStore(t, s, p+"/"+k, "v")
	}
	if err := s.Delete(ctx, p+"/d/b"); err != nil {
		t.Fatal(err)
	}
	if other.Exists(ctx, p+"/d/b") {
		t.Error("deleted file still exists for another client")
	}
	if err := s.Delete(ctx, p+"/d"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"d/a/1", "d/a/2", "d/a", "d"} {
		if other.Exists(ctx, p+"/"+k) {
			t.Errorf("%s exists after deleting its directory", k)
		}
	}
	if !other.Exists(ctx, p+"/da") {
		t.Error("deleting d removed da, which only shares the name prefix")
	}
	if err := s.Delete(ctx, p+"/never"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
}

// testExclusion runs workers that each take the same lock and check that nobody else is inside.
func testExclusion(t *testing.T, client func(i int) certmagic.Storage) {
	ctx, name := ctxT(t), prefix(t)+"-lock"
	var inside, entries atomic.Int32
	var wg sync.WaitGroup
	const workers, rounds = 6, 3
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := client(i)
			for range rounds {
				if err := s.Lock(ctx, name); err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders inside the critical section", n)
				}
				entries.Add(1)
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				if err := s.Unlock(ctx, name); err != nil {
					t.Errorf("Unlock: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if got := entries.Load(); got != workers*rounds {
		t.Errorf("%d entries into the critical section, want %d", got, workers*rounds)
	}
}

func testTryLock(t *testing.T, h Harness) {
	a, b := h.New(t), h.New(t)
	ctx, name := ctxT(t), prefix(t)+"-lock"
	ta, ok1 := a.(certmagic.TryLocker)
	tb, ok2 := b.(certmagic.TryLocker)
	if !ok1 || !ok2 {
		t.Fatalf("%T does not implement certmagic.TryLocker", a)
	}
	if ok, err := ta.TryLock(ctx, name); !ok || err != nil {
		t.Fatalf("TryLock on a free lock = %v, %v", ok, err)
	}
	if ok, err := tb.TryLock(ctx, name); ok || err != nil {
		t.Fatalf("TryLock on a held lock = %v, %v; want false, nil", ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Lock(short, name); err == nil {
		t.Fatal("Lock on a held lock returned without error after its context ended")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Lock took %v to honour its context", d)
	}
	if err := a.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if ok, err := tb.TryLock(ctx, name); !ok || err != nil {
		t.Fatalf("TryLock after Unlock = %v, %v", ok, err)
	}
	if err := b.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func testAbandoned(t *testing.T, h Harness) {
	a, b := h.New(t), h.New(t)
	ctx, name := ctxT(t), prefix(t)+"-lock"
	if err := a.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	// a live holder keeps its lease well past the TTL
	time.Sleep(h.Lease.TTL * 2)
	if ok, err := b.(certmagic.TryLocker).TryLock(ctx, name); ok || err != nil {
		t.Fatalf("the lock of a live holder was taken after 2×TTL (TryLock = %v, %v)", ok, err)
	}
	h.Lease.Abandon(a)
	start := time.Now()
	if err := b.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > h.Lease.TTL+time.Second {
		t.Errorf("an abandoned lock took %v to expire; TTL is %v", d, h.Lease.TTL)
	}
	if err := b.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func testLeaseLost(t *testing.T, h Harness) {
	a, b := h.New(t), h.New(t)
	name := prefix(t) + "-lock"
	lost := make(chan string, 1)
	ctx := cluster.WithLeaseLost(ctxT(t), func(n string) { lost <- n })
	if err := a.Lock(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := a.(certmagic.LockLeaseRenewer).RenewLockLease(ctx, name, time.Minute); err != nil {
		t.Fatalf("RenewLockLease of a held lock: %v", err)
	}
	h.Lease.Expire(t, a, name)
	if err := b.Lock(ctx, name); err != nil { // another holder takes it
		t.Fatal(err)
	}
	select {
	case n := <-lost:
		if n != name {
			t.Errorf("lease-lost signal for %q, want %q", n, name)
		}
	case <-time.After(h.Lease.TTL * 3):
		t.Fatal("the holder was not told that it lost its lease")
	}
	if err := a.(certmagic.LockLeaseRenewer).RenewLockLease(ctx, name, time.Minute); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Errorf("RenewLockLease after the loss = %v, want ErrLeaseLost", err)
	}
	if err := a.Unlock(ctx, name); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Errorf("Unlock after the loss = %v, want ErrLeaseLost", err)
	}
	// the loser's Unlock must not have released the new holder's lock
	if ok, _ := a.(certmagic.TryLocker).TryLock(ctx, name); ok {
		t.Fatal("the old holder's Unlock released the new holder's lock")
	}
	if err := b.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func testFencing(t *testing.T, h Harness) {
	clients := []certmagic.Storage{h.New(t), h.New(t)}
	ctx, name := ctxT(t), prefix(t)+"-lock"
	var last int64
	for i := range 6 {
		s := clients[i%2]
		if err := s.Lock(ctx, name); err != nil {
			t.Fatal(err)
		}
		f, ok := s.(cluster.Fencer).Fence(name)
		if !ok {
			t.Fatal("no fencing token for a held lock")
		}
		if f <= last {
			t.Errorf("fencing token %d after %d; want strictly increasing", f, last)
		}
		last = f
		if err := s.Unlock(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(cluster.Fencer).Fence(name); ok {
			t.Error("a fencing token remains after Unlock")
		}
	}
}

// testFencedWrites shows that a holder whose issuance lock was taken over cannot overwrite the
// certificate the new holder stored, while writes it makes under its lease, and writes no lock guards,
// go through.
func testFencedWrites(t *testing.T, h Harness) {
	a, b := h.New(t), h.New(t)
	ctx := ctxT(t)
	site := fmt.Sprintf("fenced-%d.example", time.Now().UnixNano())
	lock := cluster.IssueLockPrefix + site
	key := certmagic.StorageKeys.SiteCert("test-ca", site)
	if err := a.Lock(ctx, lock); err != nil {
		t.Fatal(err)
	}
	mustStore(t, a, key, "a1") // under a held lease
	h.Lease.Expire(t, a, lock)
	if err := b.Lock(ctx, lock); err != nil {
		t.Fatal(err)
	}
	mustStore(t, b, key, "b1")
	err := a.Store(ctx, key, []byte("a2"))
	if !errors.Is(err, cluster.ErrLeaseLost) {
		t.Errorf("Store by a holder that lost its lock = %v, want ErrLeaseLost", err)
	}
	if got, err := b.Load(ctx, key); err != nil || string(got) != "b1" {
		t.Errorf("after the old holder's write: %q, %v; want the new holder's %q", got, err, "b1")
	}
	// keys no held lock guards are written as usual
	mustStore(t, a, prefix(t)+"/unguarded", "x")
	if err := b.Unlock(ctx, lock); err != nil {
		t.Fatal(err)
	}
	// and the certificate keys too, once a holds no lock on them
	_ = a.Unlock(ctx, lock)
	mustStore(t, a, key, "a3")
}
