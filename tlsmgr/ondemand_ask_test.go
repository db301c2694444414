package tlsmgr

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// newOnDemandManager returns a Manager over a temporary folder whose CA is never contacted.
func newOnDemandManager(t *testing.T) *Manager {
	t.Helper()
	m, err := New(Options{StorageDir: t.TempDir(), CA: "https://127.0.0.1:1/dir", Agreed: true,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	m.terminal = false
	t.Cleanup(func() { m.Close() })
	return m
}

// remoteConn is a net.Conn that only reports a remote address.
type remoteConn struct {
	net.Conn
	addr net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.addr }

// handshakeCtx is the context certmagic gives the decision function during a handshake from ip.
func handshakeCtx(name, ip string) context.Context {
	hello := &tls.ClientHelloInfo{ServerName: name,
		Conn: remoteConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 50000}}}
	return context.WithValue(context.Background(), certmagic.ClientHelloInfoCtxKey, hello)
}

// group returns the on-demand group serving name.
func (m *Manager) group(name string) *odGroup { return m.od.table.Load().match(name) }

func TestOnDemandAsk(t *testing.T) {
	var lastQuery atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { lastQuery.Store(r.URL.RawQuery) })
	mux.HandleFunc("/no", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) })
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	for _, tc := range []struct {
		name, ask string
		allowed   bool
	}{
		{"200 allows", srv.URL + "/ok", true},
		{"403 denies", srv.URL + "/no", false},
		{"201 denies: only 200 allows", srv.URL + "/created", false},
		{"redirect denies and is not followed", srv.URL + "/redirect", false},
		{"timeout denies", srv.URL + "/slow", false},
		{"unreachable denies", deadURL + "/ok", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newOnDemandManager(t)
			m.od.askTimeout = 300 * time.Millisecond
			if err := m.EnableOnDemand([]string{"*.casket.test"}, &Policy{Ask: tc.ask}); err != nil {
				t.Fatal(err)
			}
			lastQuery.Store("")
			start := time.Now()
			err := m.group("a.casket.test").decide(handshakeCtx("a.casket.test", "192.0.2.7"), "a.casket.test")
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("decision took %v", took)
			}
			if (err == nil) != tc.allowed {
				t.Fatalf("decide = %v, allowed want %v", err, tc.allowed)
			}
			if tc.allowed {
				if q := lastQuery.Load().(string); q != "domain=a.casket.test&ip=192.0.2.7" {
					t.Errorf("ask query = %q", q)
				}
			} else if q := lastQuery.Load().(string); q != "" {
				t.Errorf("redirect was followed: %q", q)
			}
		})
	}
}

func TestOnDemandAskIgnoresRateLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	m := newOnDemandManager(t)
	clock := newFakeClock()
	m.od.limits.now = clock.now
	if err := m.EnableOnDemand([]string{""}, &Policy{Ask: srv.URL}); err != nil {
		t.Fatal(err)
	}
	// a challenge in progress, ten certificates just obtained, and a failed name: none applies with ask
	for i := range burstCerts {
		end, _ := m.od.limits.begin("x" + string(rune('a'+i)) + ".casket.test")
		end(true)
	}
	clock.add(burstPause)
	end, _ := m.od.limits.begin("failed.casket.test")
	end(false)
	busy, _ := m.od.limits.begin("busy.casket.test")
	defer busy(true)
	if m.od.limits.check("new.casket.test") == nil {
		t.Fatal("built-in limits should refuse now")
	}
	for _, n := range []string{"new.casket.test", "failed.casket.test"} {
		if err := m.group(n).decide(handshakeCtx(n, "192.0.2.1"), n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestOnDemandDecisionWithoutAsk(t *testing.T) {
	m := newOnDemandManager(t)
	clock := newFakeClock()
	m.od.limits.now = clock.now
	if err := m.EnableOnDemand([]string{"*.casket.test"}, &Policy{MaxCerts: 2}); err != nil {
		t.Fatal(err)
	}
	g := m.group("a.casket.test")
	ctx := handshakeCtx("a.casket.test", "192.0.2.1")
	if err := g.decide(ctx, "a.casket.test"); err != nil {
		t.Fatalf("first name: %v", err)
	}
	if err := g.decide(ctx, "a.b.casket.test"); err == nil || !strings.Contains(err.Error(), "no site") {
		t.Errorf("name outside the patterns: %v", err)
	}
	// max_certs counts successes
	for range 2 {
		done, err := g.count.reserve(g.maxCerts)
		if err != nil {
			t.Fatal(err)
		}
		done(true)
	}
	if err := g.decide(ctx, "c.casket.test"); err == nil || !strings.Contains(err.Error(), "max_certs") {
		t.Errorf("past max_certs: %v", err)
	}
	// a managed name is never obtained on demand
	m.mu.Lock()
	m.names["managed.casket.test"] = m.base
	m.mu.Unlock()
	m2 := newOnDemandManager(t)
	if err := m2.EnableOnDemand([]string{""}, &Policy{MaxCerts: 5}); err != nil {
		t.Fatal(err)
	}
	m2.mu.Lock()
	m2.names["managed.casket.test"] = m2.base
	m2.mu.Unlock()
	if err := m2.group("managed.casket.test").decide(ctx, "managed.casket.test"); err == nil {
		t.Error("managed name allowed on demand")
	}
	if err := m2.EnableOnDemand(nil, &Policy{}); err == nil {
		t.Error("EnableOnDemand without ask or max_certs succeeded")
	}
	if err := m2.EnableOnDemand(nil, &Policy{MaxCerts: 1}); err == nil {
		t.Error("EnableOnDemand without patterns succeeded")
	}
}
