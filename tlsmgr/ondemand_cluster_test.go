package tlsmgr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/internal/servicetest"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/file"
	"github.com/casketserver/casket/tlsmgr/cluster/redis"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// sharedBackend gives two storages of one cluster: two instances' views of the same data.
type sharedBackend struct {
	name string
	new  func(t *testing.T) (a, b certmagic.Storage)
}

func sharedBackends() []sharedBackend {
	return []sharedBackend{
		// certmagic's folder: no quick TryLock, so a busy record marks the running challenge
		{"certmagic-file", func(t *testing.T) (certmagic.Storage, certmagic.Storage) {
			dir := t.TempDir()
			return &certmagic.FileStorage{Path: dir}, &certmagic.FileStorage{Path: dir}
		}},
		// CASKET_CLUSTERING=file: lease locks in the folder
		{"file", func(t *testing.T) (certmagic.Storage, certmagic.Storage) {
			dir := t.TempDir()
			open := func() certmagic.Storage {
				s, err := file.New(dir, file.Options{Lock: cluster.LockOptions{
					TTL: 2 * time.Second, RenewEvery: 500 * time.Millisecond, PollInterval: 20 * time.Millisecond,
				}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(), open()
		}},
		{"redis", func(t *testing.T) (certmagic.Storage, certmagic.Storage) {
			r := servicetest.StartRedis(t)
			client := func() certmagic.Storage {
				s := redis.New(redis.Options{Addr: r.Addr, KeyPrefix: "od", Lock: cluster.LockOptions{
					TTL: 2 * time.Second, RenewEvery: 500 * time.Millisecond, PollInterval: 20 * time.Millisecond,
				}})
				t.Cleanup(func() { s.Close() })
				return s
			}
			return client(), client()
		}},
	}
}

// twoInstances returns the cluster limits of two instances sharing one storage, on one clock.
func twoInstances(t *testing.T, b sharedBackend) (*clusterLimits, *clusterLimits, *fakeClock) {
	sa, sb := b.new(t)
	clock := newFakeClock()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	a, c := newClusterLimits(sa, log), newClusterLimits(sb, log)
	a.now, c.now = clock.now, clock.now
	return a, c, clock
}

func mustReserve(t *testing.T, c *clusterLimits, group, name string, max int) func(bool) int {
	t.Helper()
	done, err := c.reserve(context.Background(), group, name, max, []string{"*.casket.test"})
	if err != nil {
		t.Fatalf("reserve %s: %v", name, err)
	}
	return done
}

func TestClusterLimitsMaxCerts(t *testing.T) {
	for _, b := range sharedBackends() {
		t.Run(b.name, func(t *testing.T) {
			a, c, _ := twoInstances(t, b)
			ctx := context.Background()
			const g = "g1"
			if got := mustReserve(t, a, g, "x.casket.test", 2)(true); got != 1 {
				t.Errorf("obtained after the first = %d, want 1", got)
			}
			if got := mustReserve(t, c, g, "y.casket.test", 2)(true); got != 2 {
				t.Errorf("obtained after the second = %d, want 2", got)
			}
			for _, inst := range []*clusterLimits{a, c} {
				if err := inst.capCheck(ctx, g, "z.casket.test", 2); err == nil || !strings.Contains(err.Error(), "max_certs") {
					t.Errorf("capCheck of a third name: %v", err)
				}
				if _, err := inst.reserve(ctx, g, "z.casket.test", 2, nil); err == nil || !strings.Contains(err.Error(), "max_certs") {
					t.Errorf("reserve of a third name: %v", err)
				}
				// a name obtained before is not a new one: renewing or re-obtaining it costs no slot
				if err := inst.capCheck(ctx, g, "x.casket.test", 2); err != nil {
					t.Errorf("capCheck of an obtained name: %v", err)
				}
			}
			if got := mustReserve(t, c, g, "x.casket.test", 2)(true); got != 2 {
				t.Errorf("re-obtaining a counted name: count %d, want 2", got)
			}
			// another group has its own count
			mustReserve(t, c, "g2", "z.casket.test", 2)(true)

			// a failed order gives its slot back, to the other instance too
			const g3 = "g3"
			done := mustReserve(t, a, g3, "fail.casket.test", 1)
			if _, err := c.reserve(ctx, g3, "other.casket.test", 1, nil); err == nil {
				t.Fatal("second reservation with max_certs 1 while the first is in flight")
			}
			if got := done(false); got != 0 {
				t.Errorf("obtained after a failure = %d", got)
			}
			mustReserve(t, c, g3, "other.casket.test", 1)(true)
			if err := a.capCheck(ctx, g3, "fail.casket.test", 1); err == nil {
				t.Error("max_certs 1 reached, yet the failed name may try again")
			}
		})
	}
}

func TestClusterLimitsReservationsNeverOvershoot(t *testing.T) {
	skipShort(t)
	for _, b := range sharedBackends() {
		t.Run(b.name, func(t *testing.T) {
			a, c, _ := twoInstances(t, b)
			const max, per = 3, 5
			var granted, capped atomic.Int32
			var wg sync.WaitGroup
			for i, inst := range []*clusterLimits{a, c, a, c} {
				for j := range per {
					wg.Add(1)
					go func() {
						defer wg.Done()
						name := fmt.Sprintf("n%d-%d.casket.test", i, j)
						done, err := inst.reserve(context.Background(), "g", name, max, nil)
						if err != nil {
							if strings.Contains(err.Error(), "max_certs") {
								capped.Add(1)
							} else {
								t.Log(err) // a lock wait that ran out also denies: never an overshoot
							}
							return
						}
						granted.Add(1)
						time.Sleep(50 * time.Millisecond) // the order
						done(true)
					}()
				}
			}
			wg.Wait()
			if got := granted.Load(); got != max {
				t.Errorf("granted %d reservations, want exactly %d (max_certs denials %d)", got, max, capped.Load())
			}
			if got := a.obtained("g"); got != int(granted.Load()) {
				t.Errorf("shared count %d, granted %d", got, granted.Load())
			}
		})
	}
}

func TestClusterLimitsOneChallengeAtATime(t *testing.T) {
	for _, b := range sharedBackends() {
		t.Run(b.name, func(t *testing.T) {
			a, c, _ := twoInstances(t, b)
			ctx := context.Background()
			end, err := a.begin(ctx, "held.casket.test")
			if err != nil {
				t.Fatal(err)
			}
			for i, inst := range []*clusterLimits{c, a} {
				start := time.Now()
				if _, err := inst.begin(ctx, "other.casket.test"); err == nil || !strings.Contains(err.Error(), "one at a time") {
					t.Errorf("instance %d: second challenge while one runs: %v", i, err)
				}
				if took := time.Since(start); took > time.Second {
					t.Errorf("instance %d: denial took %v; a busy slot must deny at once", i, took)
				}
			}
			end(true)
			end2, err := c.begin(ctx, "other.casket.test")
			if err != nil {
				t.Fatalf("after the first challenge ended: %v", err)
			}
			end2(true)
			if err := a.rateCheck(ctx, "third.casket.test"); err != nil {
				t.Errorf("no challenge running: %v", err)
			}
		})
	}
}

func TestClusterLimitsFailedNamePausedEverywhere(t *testing.T) {
	for _, b := range sharedBackends() {
		t.Run(b.name, func(t *testing.T) {
			a, c, clock := twoInstances(t, b)
			ctx := context.Background()
			end, err := a.begin(ctx, "bad.casket.test")
			if err != nil {
				t.Fatal(err)
			}
			end(false)
			failedAt := clock.now()
			for _, tc := range []struct {
				at      time.Duration
				wantErr bool
			}{{0, true}, {failedNamePause - time.Second, true}, {failedNamePause, false}} {
				clock.mu.Lock()
				clock.t = failedAt.Add(tc.at)
				clock.mu.Unlock()
				err := c.rateCheck(ctx, "bad.casket.test")
				if (err != nil) != tc.wantErr || (err != nil && !strings.Contains(err.Error(), "failed")) {
					t.Errorf("at +%v on the other instance: %v, want error %v", tc.at, err, tc.wantErr)
				}
				if tc.wantErr {
					if _, err := c.begin(ctx, "bad.casket.test"); err == nil {
						t.Errorf("at +%v: challenge started for a paused name", tc.at)
					}
					if err := c.rateCheck(ctx, "good.casket.test"); err != nil {
						t.Errorf("another name held back by a failure: %v", err)
					}
				}
			}
			end, err = c.begin(ctx, "bad.casket.test")
			if err != nil {
				t.Fatalf("after the pause: %v", err)
			}
			end(true)
		})
	}
}

func TestClusterLimitsTenThenTenMinutes(t *testing.T) {
	for _, b := range sharedBackends() {
		t.Run(b.name, func(t *testing.T) {
			a, c, clock := twoInstances(t, b)
			ctx := context.Background()
			for i := range burstCerts {
				clock.add(time.Second)
				inst := []*clusterLimits{a, c}[i%2]
				end, err := inst.begin(ctx, fmt.Sprintf("n%d.casket.test", i))
				if err != nil {
					t.Fatalf("certificate %d: %v", i+1, err)
				}
				end(true)
			}
			for _, inst := range []*clusterLimits{a, c} {
				if _, err := inst.begin(ctx, "eleven.casket.test"); err == nil || !strings.Contains(err.Error(), "10 certificates") {
					t.Errorf("11th challenge right after 10 in the cluster: %v", err)
				}
			}
			clock.add(burstPause)
			end, err := c.begin(ctx, "eleven.casket.test")
			if err != nil {
				t.Fatalf("11th after the pause: %v", err)
			}
			end(true)
			if err := a.rateCheck(ctx, "twelve.casket.test"); err == nil {
				t.Error("12th allowed right after the 11th")
			}
		})
	}
}

// TestClusterLimitsCrashedInstance: what an instance that died mid-order left behind lapses.
func TestClusterLimitsCrashedInstance(t *testing.T) {
	b := sharedBackends()[0] // the busy record and reservations lapse on the clock
	a, c, clock := twoInstances(t, b)
	ctx := context.Background()
	if _, err := a.begin(ctx, "crashed.casket.test"); err != nil { // never ended
		t.Fatal(err)
	}
	mustReserve(t, a, "g", "crashed.casket.test", 1) // never settled
	if _, err := c.begin(ctx, "next.casket.test"); err == nil {
		t.Fatal("challenge started while another instance's runs")
	}
	if err := c.capCheck(ctx, "g", "next.casket.test", 1); err == nil {
		t.Fatal("slot free while another instance's order runs")
	}
	clock.add(odPendingTTL)
	end, err := c.begin(ctx, "next.casket.test")
	if err != nil {
		t.Fatalf("busy mark of a crashed instance did not lapse: %v", err)
	}
	end(true)
	mustReserve(t, c, "g", "next.casket.test", 1)(true)
}

// failingStorage is a storage that cannot be reached: calls fail, or hang until their context ends.
type failingStorage struct {
	certmagic.Storage
	hang bool
}

func (s failingStorage) fail(ctx context.Context) error {
	if s.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return errors.New("connection refused")
}
func (s failingStorage) Load(ctx context.Context, _ string) ([]byte, error)  { return nil, s.fail(ctx) }
func (s failingStorage) Store(ctx context.Context, _ string, _ []byte) error { return s.fail(ctx) }
func (s failingStorage) Exists(ctx context.Context, _ string) bool           { return s.fail(ctx) == nil }
func (s failingStorage) Lock(ctx context.Context, _ string) error            { return s.fail(ctx) }
func (s failingStorage) Unlock(ctx context.Context, _ string) error          { return s.fail(ctx) }

func TestClusterLimitsStorageDownDenies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		storage func(t *testing.T) certmagic.Storage
	}{
		{"refused", func(t *testing.T) certmagic.Storage {
			return failingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
		}},
		{"hanging", func(t *testing.T) certmagic.Storage {
			return failingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}, hang: true}
		}},
		{"redis stopped", func(t *testing.T) certmagic.Storage {
			r := servicetest.StartRedis(t)
			s := redis.New(redis.Options{Addr: r.Addr})
			t.Cleanup(func() { s.Close() })
			if err := s.Store(context.Background(), "up", []byte("1")); err != nil {
				t.Fatal(err)
			}
			r.Stop()
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterLimits(tc.storage(t), zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel+1)))
			c.opTimeout, c.lockWait = 50*time.Millisecond, 100*time.Millisecond
			ctx := context.Background()
			for _, check := range []struct {
				what string
				run  func() error
			}{
				{"capCheck", func() error { return c.capCheck(ctx, "g", "a.casket.test", 5) }},
				{"rateCheck", func() error { return c.rateCheck(ctx, "a.casket.test") }},
				{"reserve", func() error { _, err := c.reserve(ctx, "g", "a.casket.test", 5, nil); return err }},
				{"begin", func() error { _, err := c.begin(ctx, "a.casket.test"); return err }},
			} {
				start := time.Now()
				err := check.run()
				if err == nil || !strings.Contains(err.Error(), "shared storage") {
					t.Errorf("%s with the storage down: %v, want a denial naming the storage", check.what, err)
				}
				if took := time.Since(start); took > 600*time.Millisecond {
					t.Errorf("%s took %v to deny; storage calls must be bounded", check.what, took)
				}
			}
		})
	}
}

// TestOnDemandClusterLimitsManagers: two Managers over one storage share their max_certs count and rate
// limits; without ClusterLimits each keeps its own and nothing is written to storage.
func TestOnDemandClusterLimitsManagers(t *testing.T) {
	dir := t.TempDir()
	newMgr := func(shared bool) *Manager {
		m, err := New(Options{StorageDir: dir, CA: "https://127.0.0.1:1/dir", Agreed: true, ClusterLimits: shared,
			Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
		if err != nil {
			t.Fatal(err)
		}
		m.terminal = false
		t.Cleanup(func() { m.Close() })
		if err := m.EnableOnDemand([]string{"*.casket.test"}, &Policy{MaxCerts: 1}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ctx := handshakeCtx("a.casket.test", "192.0.2.1")
	local1, local2 := newMgr(false), newMgr(false)
	done, err := local1.group("a.casket.test").reserve(ctx, "a.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	done(true)
	if err := local2.group("b.casket.test").decide(ctx, "b.casket.test"); err != nil {
		t.Errorf("without ClusterLimits another instance's count was seen: %v", err)
	}
	if (&certmagic.FileStorage{Path: dir}).Exists(ctx, "ondemand") {
		t.Error("limits written to storage without ClusterLimits")
	}

	m1, m2 := newMgr(true), newMgr(true)
	g1, g2 := m1.group("a.casket.test"), m2.group("b.casket.test")
	if g1.group != g2.group {
		t.Fatalf("same site, different group keys %q and %q", g1.group, g2.group)
	}
	done, err = g1.reserve(ctx, "a.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	if got := done(true); got != 1 {
		t.Errorf("obtained = %d, want 1", got)
	}
	if err := g2.decide(ctx, "b.casket.test"); err == nil || !strings.Contains(err.Error(), "max_certs") {
		t.Errorf("other Manager past the shared max_certs: %v", err)
	}
	end, err := g2.begin(ctx, "a.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	defer end(true)
	if err := m1.EnableOnDemand([]string{"other.test"}, &Policy{MaxCerts: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.group("other.test").begin(ctx, "other.test"); err == nil || !strings.Contains(err.Error(), "one at a time") {
		t.Errorf("a challenge on another Manager did not hold this one: %v", err)
	}

	core, logs := observer.New(zap.WarnLevel)
	broken, err := New(Options{StorageDir: t.TempDir(), CA: "https://127.0.0.1:1/dir", Agreed: true, ClusterLimits: true,
		Storage: failingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer broken.Close()
	if err := broken.EnableOnDemand([]string{"*.casket.test"}, &Policy{MaxCerts: 1}); err != nil {
		t.Fatal(err)
	}
	if err := broken.group("c.casket.test").decide(ctx, "c.casket.test"); err == nil || !strings.Contains(err.Error(), "shared storage") {
		t.Errorf("decide with the storage down: %v, want a denial", err)
	}
	if n := logs.FilterMessage("on-demand certificate denied").FilterLevelExact(zap.ErrorLevel).Len(); n != 1 {
		t.Errorf("%d denials logged at error level with the storage down, want 1", n)
	}
}

func TestQuickTryLocker(t *testing.T) {
	fs := &certmagic.FileStorage{Path: t.TempDir()}
	enc, err := cluster.NewEncrypted(fs, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	leased, err := file.New(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer leased.Close()
	encLeased, err := cluster.NewEncrypted(leased, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    certmagic.Storage
		want bool
	}{
		{"certmagic folder (TryLock polls)", fs, false},
		{"encrypted certmagic folder", enc, false},
		{"lease-locked folder", leased, true},
		{"encrypted lease-locked folder", encLeased, true},
		{"no TryLock", failingStorage{Storage: fs}, false},
	} {
		if got := quickTryLocker(tc.s) != nil; got != tc.want {
			t.Errorf("%s: quick TryLock %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestClusterLimitsCrashedChallengeLock: the challenge lock of an instance that died mid-challenge frees
// itself when its lease runs out, and the next challenge may start anywhere.
func TestClusterLimitsCrashedChallengeLock(t *testing.T) {
	skipShort(t)
	a, c, _ := twoInstances(t, sharedBackends()[1])
	ctx := context.Background()
	if _, err := a.begin(ctx, "crashed.casket.test"); err != nil {
		t.Fatal(err)
	}
	a.s.(*file.Storage).Abandon() // the instance dies: its lease is no longer extended
	if _, err := c.begin(ctx, "next.casket.test"); err == nil {
		t.Fatal("challenge started while the crashed instance's lease still runs")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		end, err := c.begin(ctx, "next.casket.test")
		if err == nil {
			end(true)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("challenge lock of a crashed instance never freed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
