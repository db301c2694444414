package tlsmgr

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
)

// deniedFor returns the reason of the last denial logged for name.
func (s *odSite) deniedFor(name string) string {
	reason := ""
	for _, e := range s.logs.FilterMessage("on-demand certificate denied").All() {
		if e.ContextMap()["name"] == name {
			reason, _ = e.ContextMap()["reason"].(string)
		}
	}
	return reason
}

func TestOnDemandPebbleOneChallengeAtATime(t *testing.T) {
	skipShort(t)
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	m := site.start(peb, t.TempDir(), nil)
	if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 10, "")); err != nil {
		t.Fatal(err)
	}
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := func(host string) {
		if host == "held.casket.test" {
			once.Do(func() { close(reached) })
			<-release
		}
	}
	site.beforeChallenge.Store(&hold)
	heldErr := make(chan error, 1)
	go func() {
		_, err := site.handshake("held.casket.test", peb.Roots)
		heldErr <- err
	}()
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal("challenge for held.casket.test never arrived")
	}
	start := time.Now()
	if _, err := site.handshake("other.casket.test", peb.Roots); err == nil {
		t.Fatal("a second challenge ran while one is in progress")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("denied handshake took %v, want a fast failure", took)
	}
	if r := site.deniedFor("other.casket.test"); !strings.Contains(r, "one at a time") {
		t.Errorf("denial reason = %q", r)
	}
	if got := peb.Orders(); got != 1 {
		t.Errorf("orders while one challenge runs = %d, want 1", got)
	}
	close(release)
	if err := <-heldErr; err != nil {
		t.Fatalf("held name: %v", err)
	}
	if _, err := site.handshake("other.casket.test", peb.Roots); err != nil {
		t.Errorf("second name after the first challenge ended: %v", err)
	}
}

func TestOnDemandPebbleFailedNameWaitsFiveMinutes(t *testing.T) {
	skipShort(t)
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort,
		Blocklist: []string{"refused.casket.test"}})
	m := site.start(peb, t.TempDir(), nil)
	clock := newFakeClock()
	m.od.limits.now = clock.now
	if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 10, "")); err != nil {
		t.Fatal(err)
	}
	const name = "refused.casket.test"
	attempts := func() int { return site.messages("on-demand challenge started", name) }
	if _, err := site.handshake(name, peb.Roots); err == nil {
		t.Fatal("refused name got a certificate")
	}
	if attempts() != 1 || site.messages("on-demand challenge failed", name) != 1 {
		t.Fatalf("challenges started %d, failed %d; want 1 and 1", attempts(), site.messages("on-demand challenge failed", name))
	}
	failedAt := clock.now()
	for _, tc := range []struct {
		at          time.Duration
		wantAttempt int
	}{
		{0, 1},
		{failedNamePause - time.Nanosecond, 1},
		{failedNamePause, 2},
	} {
		clock.mu.Lock()
		clock.t = failedAt.Add(tc.at)
		clock.mu.Unlock()
		start := time.Now()
		if _, err := site.handshake(name, peb.Roots); err == nil {
			t.Fatal("refused name got a certificate")
		}
		if got := attempts(); got != tc.wantAttempt {
			t.Errorf("at +%v: %d challenges, want %d", tc.at, got, tc.wantAttempt)
		}
		if tc.wantAttempt == 1 {
			if r := site.deniedFor(name); !strings.Contains(r, "failed") {
				t.Errorf("at +%v: denial reason %q", tc.at, r)
			}
			if time.Since(start) > time.Second {
				t.Errorf("at +%v: denial took %v", tc.at, time.Since(start))
			}
		}
	}
	// other names are not held back by the failure
	if _, err := site.handshake("fine.casket.test", peb.Roots); err != nil {
		t.Errorf("another name after a failure: %v", err)
	}
}

func TestOnDemandPebbleTenThenTenMinutes(t *testing.T) {
	skipShort(t)
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	m := site.start(peb, t.TempDir(), nil)
	clock := newFakeClock()
	m.od.limits.now = clock.now
	if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 100, "")); err != nil {
		t.Fatal(err)
	}
	for i := range burstCerts {
		clock.add(time.Second)
		if _, err := site.handshake(fmt.Sprintf("t%d.casket.test", i), peb.Roots); err != nil {
			t.Fatalf("certificate %d: %v", i+1, err)
		}
	}
	last := clock.now()
	for _, tc := range []struct {
		at   time.Duration
		name string
		ok   bool
	}{
		{0, "eleven.casket.test", false},
		{burstPause - time.Nanosecond, "eleven.casket.test", false},
		{burstPause, "eleven.casket.test", true},
		{burstPause + burstPause - time.Nanosecond, "twelve.casket.test", false},
		{burstPause + burstPause, "twelve.casket.test", true},
	} {
		clock.mu.Lock()
		clock.t = last.Add(tc.at)
		clock.mu.Unlock()
		// certmagic paces orders to 10 per 10 seconds per account: the 11th may wait for its turn
		_, err := site.handshakeWithin(tc.name, peb.Roots, 30*time.Second)
		if (err == nil) != tc.ok {
			t.Errorf("%s at +%v after the 10th: err %v, want ok %v", tc.name, tc.at, err, tc.ok)
		}
		if !tc.ok && !strings.Contains(site.deniedFor(tc.name), "rate limit") {
			t.Errorf("%s at +%v: denial reason %q", tc.name, tc.at, site.deniedFor(tc.name))
		}
	}
	if got := peb.Orders(); got != burstCerts+2 {
		t.Errorf("orders = %d, want %d", got, burstCerts+2)
	}
}

func TestOnDemandPebbleAsk(t *testing.T) {
	skipShort(t)
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	m := site.start(peb, t.TempDir(), nil)
	m.od.askTimeout = 2 * time.Second
	clock := newFakeClock()
	m.od.limits.now = clock.now

	var mu sync.Mutex
	asked := map[string]string{} // domain → ip
	ask := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		domain := r.URL.Query().Get("domain")
		mu.Lock()
		asked[domain] = r.URL.Query().Get("ip")
		mu.Unlock()
		switch {
		case strings.HasPrefix(domain, "ok"):
		case strings.HasPrefix(domain, "redir"):
			http.Redirect(w, r, "/?domain=ok.ask.casket.test", http.StatusFound)
		case strings.HasPrefix(domain, "slow"):
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer ask.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if err := m.EnableOnDemand([]string{"*.ask.casket.test"}, odPolicy(peb, 0, ask.URL)); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableOnDemand([]string{"*.dead.casket.test"}, odPolicy(peb, 0, dead.URL)); err != nil {
		t.Fatal(err)
	}

	// a slow ask endpoint holds only its own handshake
	slowErr := make(chan error, 1)
	slowStart := time.Now()
	go func() {
		_, err := site.handshake("slow.ask.casket.test", peb.Roots)
		slowErr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if _, err := site.handshake("ok.ask.casket.test", peb.Roots); err != nil {
		t.Fatalf("ask 200: %v", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("allowed handshake took %v while another waited for ask", took)
	}
	if err := <-slowErr; err == nil {
		t.Error("ask timeout: got a certificate")
	} else if took := time.Since(slowStart); took > 4*time.Second {
		t.Errorf("ask timeout: denied after %v", took)
	}
	for _, tc := range []struct{ name, why string }{
		{"no.ask.casket.test", "answered 403"},
		{"redir.ask.casket.test", "answered 302"},
		{"slow.ask.casket.test", "no answer"},
		{"x.dead.casket.test", "unreachable"},
	} {
		if tc.name != "slow.ask.casket.test" {
			if _, err := site.handshake(tc.name, peb.Roots); err == nil {
				t.Errorf("%s: got a certificate", tc.name)
			}
		}
		if r := site.deniedFor(tc.name); !strings.Contains(r, tc.why) {
			t.Errorf("%s: denial reason %q, want %q", tc.name, r, tc.why)
		}
	}
	mu.Lock()
	if ip := asked["ok.ask.casket.test"]; ip != "127.0.0.1" {
		t.Errorf("ask got ip=%q, want 127.0.0.1", ip)
	}
	mu.Unlock()
	if got := peb.Orders(); got != 1 {
		t.Errorf("orders = %d, want 1 (only the allowed name)", got)
	}

	// no built-in limits with ask: ten just obtained, a challenge in progress, 12 names at once
	for i := range burstCerts {
		end, _ := m.od.limits.begin(fmt.Sprintf("prime%d.casket.test", i))
		end(true)
	}
	primed := clock.now()
	clock.add(burstPause)
	busy, err := m.od.limits.begin("busy.casket.test")
	if err != nil {
		t.Fatal(err)
	}
	defer busy(false)
	clock.mu.Lock()
	clock.t = primed
	clock.mu.Unlock()
	if m.od.limits.check("ok0.ask.casket.test") == nil {
		t.Fatal("built-in limits should refuse now")
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// certmagic paces orders to 10 per 10 seconds per account, so some handshakes wait
			if _, err := site.handshakeWithin(fmt.Sprintf("ok%d.ask.casket.test", i), peb.Roots, 30*time.Second); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of 12 concurrent ask-allowed names failed", failed.Load())
	}
	if got := peb.Orders(); got != 13 {
		t.Errorf("orders = %d, want 13", got)
	}
}
