package tlsmgr

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injectable clock for the rate limits.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRateLimitOneChallengeAtATime(t *testing.T) {
	r := &rateLimits{now: newFakeClock().now}
	end, err := r.begin("a.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.check("b.casket.test"); err == nil {
		t.Fatal("check allowed a second name during a challenge")
	}
	if _, err := r.begin("b.casket.test"); err == nil {
		t.Fatal("a second challenge started while one is in progress")
	}
	if _, err := r.begin("a.casket.test"); err == nil {
		t.Fatal("the same name started twice")
	}
	end(true)
	end2, err := r.begin("b.casket.test")
	if err != nil {
		t.Fatalf("after the first challenge ended: %v", err)
	}
	end2(false)

	// many goroutines racing: never two at once
	var inFlight, maxInFlight, started atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end, err := r.begin(fmt.Sprintf("n%d.casket.test", i))
			if err != nil {
				return
			}
			started.Add(1)
			if n := inFlight.Add(1); n > maxInFlight.Load() {
				maxInFlight.Store(n)
			}
			time.Sleep(time.Millisecond)
			inFlight.Add(-1)
			end(false)
		}()
	}
	wg.Wait()
	if maxInFlight.Load() != 1 || started.Load() == 0 {
		t.Errorf("challenges in flight at once: %d (started %d), want 1", maxInFlight.Load(), started.Load())
	}
}

func TestRateLimitTenThenTenMinutes(t *testing.T) {
	clock := newFakeClock()
	r := &rateLimits{now: clock.now}
	for i := range burstCerts {
		clock.add(time.Second)
		end, err := r.begin(fmt.Sprintf("n%d.casket.test", i))
		if err != nil {
			t.Fatalf("certificate %d: %v", i+1, err)
		}
		end(true)
	}
	last := clock.now()
	for _, tc := range []struct {
		name    string
		at      time.Duration // after the last success
		wantErr bool
	}{
		{"right after the 10th", 0, true},
		{"one nanosecond before 10 minutes", burstPause - time.Nanosecond, true},
		{"exactly 10 minutes", burstPause, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.mu.Lock()
			clock.t = last.Add(tc.at)
			clock.mu.Unlock()
			if err := r.check("next.casket.test"); (err != nil) != tc.wantErr {
				t.Errorf("check = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
	// the 11th succeeds at exactly 10 minutes; the window starts again from it
	end, err := r.begin("eleven.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	end(true)
	clock.add(burstPause - time.Nanosecond)
	if err := r.check("twelve.casket.test"); err == nil {
		t.Error("12th allowed before 10 minutes after the 11th")
	}
	clock.add(time.Nanosecond)
	if err := r.check("twelve.casket.test"); err != nil {
		t.Errorf("12th at 10 minutes after the 11th: %v", err)
	}

	// nine successes never trigger the pause
	r2 := &rateLimits{now: clock.now}
	for i := range burstCerts - 1 {
		end, err := r2.begin(fmt.Sprintf("m%d.casket.test", i))
		if err != nil {
			t.Fatal(err)
		}
		end(true)
	}
	if err := r2.check("tenth.casket.test"); err != nil {
		t.Errorf("10th certificate refused: %v", err)
	}
}

func TestRateLimitFailedNameFiveMinutes(t *testing.T) {
	clock := newFakeClock()
	r := &rateLimits{now: clock.now}
	end, err := r.begin("bad.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	end(false)
	failedAt := clock.now()
	for _, tc := range []struct {
		name    string
		check   string
		at      time.Duration
		wantErr bool
	}{
		{"same name at once", "bad.casket.test", 0, true},
		{"other name at once", "good.casket.test", 0, false},
		{"same name one nanosecond before 5 minutes", "bad.casket.test", failedNamePause - time.Nanosecond, true},
		{"same name at exactly 5 minutes", "bad.casket.test", failedNamePause, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.mu.Lock()
			clock.t = failedAt.Add(tc.at)
			clock.mu.Unlock()
			if err := r.check(tc.check); (err != nil) != tc.wantErr {
				t.Errorf("check(%s) = %v, wantErr %v", tc.check, err, tc.wantErr)
			}
		})
	}
	// a failure does not count toward the ten
	if r.obtained != 0 {
		t.Errorf("obtained = %d after a failure", r.obtained)
	}
}

func TestRateLimitFailedNamesPruned(t *testing.T) {
	clock := newFakeClock()
	r := &rateLimits{now: clock.now}
	for i := range 3 * failedNamesKept {
		end, err := r.begin(fmt.Sprintf("f%d.casket.test", i))
		if err != nil {
			t.Fatal(err)
		}
		end(false)
		clock.add(failedNamePause / failedNamesKept)
	}
	if n := len(r.failed); n > 2*failedNamesKept {
		t.Errorf("%d failed names remembered, want them pruned", n)
	}
}

func TestCertCounterNeverOvershoots(t *testing.T) {
	var c certCounter
	const max = 10
	var wg sync.WaitGroup
	var granted atomic.Int32
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := c.reserve(max)
			if err != nil {
				return
			}
			granted.Add(1)
			done(i%3 != 0) // some orders fail and give their slot back
		}()
	}
	wg.Wait()
	if got := c.count(); got > max {
		t.Errorf("issued %d certificates, max %d", got, max)
	}
	if !c.full(max) && c.count() == max {
		t.Error("full() false at the cap")
	}
	// a failure releases the slot
	var d certCounter
	done, _ := d.reserve(1)
	if _, err := d.reserve(1); err == nil {
		t.Error("second reservation granted with max 1")
	}
	done(false)
	done, err := d.reserve(1)
	if err != nil {
		t.Fatalf("slot not released after a failure: %v", err)
	}
	done(true)
	if _, err := d.reserve(1); err == nil || d.count() != 1 {
		t.Errorf("after one success with max 1: err %v, count %d", err, d.count())
	}
}

func TestOnDemandTableMatch(t *testing.T) {
	a, b, c, d := &odGroup{}, &odGroup{}, &odGroup{}, &odGroup{}
	groups := map[string]*odGroup{}
	for _, p := range normalizePatterns([]string{"Exact.Casket.Test"}) {
		groups[p] = a
	}
	for _, p := range normalizePatterns([]string{"*.casket.test"}) {
		groups[p] = b
	}
	for _, p := range normalizePatterns([]string{"api.*.casket.test"}) {
		groups[p] = c
	}
	tab := buildTable(groups)
	tabAny := buildTable(map[string]*odGroup{"": d, "exact.casket.test": a})
	for _, tc := range []struct {
		name string
		tab  *odTable
		want *odGroup
	}{
		{"exact.casket.test", tab, a},
		{"exact.casket.test.", tab, a},
		{"x.casket.test", tab, b},
		{"casket.test", tab, nil},
		{"a.b.casket.test", tab, nil},
		{"api.eu.casket.test", tab, c},
		{"*.casket.test", tab, nil},
		{"", tab, nil},
		{"other.example", tab, nil},
		{"other.example", tabAny, d},
		{"exact.casket.test", tabAny, a},
		{"", tabAny, nil},
	} {
		if got := tc.tab.match(tc.name); got != tc.want {
			t.Errorf("match(%q) = %p, want %p", tc.name, got, tc.want)
		}
	}
	if got := normalizePatterns([]string{"*", "", "A.test", "a.test"}); len(got) != 2 || got[0] != "" || got[1] != "a.test" {
		t.Errorf("normalizePatterns = %q", got)
	}
}

func TestOnDemandStateSurvivesReload(t *testing.T) {
	state := NewOnDemandState()
	newMgr := func() *Manager {
		m, err := New(Options{StorageDir: t.TempDir(), CA: "https://127.0.0.1:1/dir", Agreed: true, OnDemand: state})
		if err != nil {
			t.Fatal(err)
		}
		m.terminal = false
		t.Cleanup(func() { m.Close() })
		return m
	}
	p := &Policy{MaxCerts: 2}
	m1 := newMgr()
	if err := m1.EnableOnDemand([]string{"*.casket.test"}, p); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		done, err := m1.group("a.casket.test").count.reserve(2)
		if err != nil {
			t.Fatal(err)
		}
		done(true)
	}
	end, err := m1.od.limits.begin("held.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	defer end(true)
	m1.Close()

	m2 := newMgr() // the next configuration of the same process
	if err := m2.EnableOnDemand([]string{"*.casket.test"}, &Policy{MaxCerts: 2}); err != nil {
		t.Fatal(err)
	}
	if !m2.group("b.casket.test").count.full(2) {
		t.Error("max_certs count reset by a reload")
	}
	if m2.od.limits.check("b.casket.test") == nil {
		t.Error("rate limits reset by a reload")
	}
	m3, err := New(Options{StorageDir: t.TempDir(), CA: "https://127.0.0.1:1/dir", Agreed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close()
	m3.terminal = false
	if err := m3.EnableOnDemand([]string{"*.casket.test"}, &Policy{MaxCerts: 2}); err != nil {
		t.Fatal(err)
	}
	if m3.group("b.casket.test").count.full(2) || m3.od.limits.check("b.casket.test") != nil {
		t.Error("a Manager without shared state inherited limits")
	}
}
