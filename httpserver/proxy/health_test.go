package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// restartable is a backend that can be killed and started again on the same address.
type restartable struct {
	t    *testing.T
	b    *backend
	addr string
	h    http.HandlerFunc
	mu   sync.Mutex
	srv  *httptest.Server
}

func newRestartable(t *testing.T, name string, h http.HandlerFunc) *restartable {
	rs := &restartable{t: t, b: &backend{name: name}, h: h}
	rs.start("127.0.0.1:0")
	rs.addr = rs.srv.Listener.Addr().String()
	t.Cleanup(rs.kill)
	return rs
}

func (rs *restartable) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		rs.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rs.b.handler(rs.h))
	srv.Listener = ln
	srv.Start()
	rs.mu.Lock()
	rs.srv = srv
	rs.mu.Unlock()
}

func (rs *restartable) kill() {
	rs.mu.Lock()
	srv := rs.srv
	rs.srv = nil
	rs.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (rs *restartable) restart() { rs.start(rs.addr) }

func TestPassiveHealth(t *testing.T) {
	c := &http.Client{}
	a := newRestartable(t, "a", nil)
	b := newBackend(t, "b", nil)
	base, in := site(t, fmt.Sprintf("proxy / %s %s {\n policy round_robin\n max_fails 2\n fail_timeout 300ms\n}", a.addr, b.addr()))
	up := proxyHandler(t, in).Config.Upstreams[0]
	a.kill()
	failures := 0
	for i := 0; i < 20; i++ {
		status, body, _ := get(t, c, base+"/")
		switch {
		case status == http.StatusBadGateway:
			failures++
		case body != "b":
			t.Fatalf("request %d reached %q", i, body)
		}
	}
	if failures != 2 {
		t.Errorf("%d requests failed, want max_fails = 2 before a leaves the rotation", failures)
	}
	if up.Fails() != 2 {
		t.Errorf("fails = %d, want 2", up.Fails())
	}
	a.restart()
	waitFor(t, "fail_timeout to forget the failures", 2*time.Second, func() bool { return up.Fails() == 0 })
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		_, body, _ := get(t, c, base+"/")
		seen[body] = true
	}
	if !seen["a"] {
		t.Errorf("a did not come back after fail_timeout: %v", seen)
	}
}

func TestNoFailTimeoutKeepsTrying(t *testing.T) {
	c := &http.Client{}
	b := newBackend(t, "b", nil)
	base, _ := site(t, "proxy / "+deadAddr(t)+" "+b.addr()+" {\n policy round_robin\n}")
	failures := 0
	for i := 0; i < 10; i++ {
		if status, _, _ := get(t, c, base+"/"); status == http.StatusBadGateway {
			failures++
		}
	}
	if failures != 5 {
		t.Errorf("%d failures, want 5: without fail_timeout the dead upstream stays in rotation", failures)
	}
}

// TestDeadBackendReturns: a killed backend leaves the rotation after max_fails and comes back as soon
// as its active health check passes again, long before fail_timeout.
func TestDeadBackendReturns(t *testing.T) {
	c := &http.Client{}
	a := newRestartable(t, "a", nil)
	b := newBackend(t, "b", nil)
	base, in := site(t, fmt.Sprintf("proxy / %s %s {\n policy round_robin\n max_fails 1\n fail_timeout 1h\n"+
		" health_check /health\n health_check_interval 50ms\n health_check_timeout 1s\n}", a.addr, b.addr()))
	up := proxyHandler(t, in).Config.Upstreams[0]
	a.kill()
	waitFor(t, "a to leave the rotation", 5*time.Second, func() bool {
		get(t, c, base+"/")
		return !up.available(proxyHandler(t, in).Config)
	})
	for i := 0; i < 6; i++ {
		if status, body, _ := get(t, c, base+"/"); status != 200 || body != "b" {
			t.Fatalf("with a down: %d %q", status, body)
		}
	}
	a.restart()
	waitFor(t, "a to pass its health check", 5*time.Second, func() bool { return up.Healthy() && up.Fails() == 0 })
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		_, body, _ := get(t, c, base+"/")
		seen[body]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Errorf("after recovery round_robin gave %v, want 3 each", seen)
	}
}

func TestActiveHealthRules(t *testing.T) {
	slow := make(chan struct{})
	t.Cleanup(func() { close(slow) })
	healthServer := newBackend(t, "health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "port ok") })
	_, healthPort, _ := net.SplitHostPort(healthServer.addr())
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    string
		healthy bool
	}{
		{name: "200", handler: func(w http.ResponseWriter, r *http.Request) {}, healthy: true},
		{name: "302 is healthy", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, healthy: true},
		{name: "404", handler: http.NotFound, healthy: false},
		{name: "500", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, healthy: false},
		{name: "contains", opts: "health_check_contains alive", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "status: alive and well")
		}, healthy: true},
		{name: "does not contain", opts: "health_check_contains alive", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "status: degraded")
		}, healthy: false},
		{name: "timeout", opts: "health_check_timeout 50ms", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}, healthy: false},
		{name: "other port", opts: "health_check_port " + healthPort + "\n health_check_contains port", handler: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				w.WriteHeader(500)
			}
		}, healthy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var checked atomic.Int32
			b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/health" {
					if ua := r.Header.Get("User-Agent"); !strings.Contains(ua, "casket") {
						t.Errorf("health check User-Agent = %q", ua)
					}
					checked.Add(1)
				}
				tt.handler(w, r)
			})
			_, in := site(t, "proxy / "+b.addr()+" {\n health_check /health\n health_check_interval 20ms\n "+tt.opts+"\n}")
			h := proxyHandler(t, in)
			up := h.Config.Upstreams[0]
			if tt.name == "other port" {
				waitFor(t, "the health port to be checked", 5*time.Second, func() bool { return healthServer.count() >= 2 })
				if checked.Load() != 0 {
					t.Error("health check went to the upstream port")
				}
			} else {
				waitFor(t, "two health checks", 5*time.Second, func() bool { return checked.Load() >= 2 })
			}
			time.Sleep(60 * time.Millisecond)
			if up.Healthy() != tt.healthy {
				t.Errorf("healthy = %v, want %v", up.Healthy(), tt.healthy)
			}
		})
	}
}

func TestHealthCheckStopsOnClose(t *testing.T) {
	var checks atomic.Int32
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { checks.Add(1) })
	cfg, err := Parse(dispenser(t, "proxy / "+b.addr()+" {\n health_check /h\n health_check_interval 10ms\n}"))
	if err != nil {
		t.Fatal(err)
	}
	h := New(nil, cfg)
	if err := h.Provision(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "health checks", 2*time.Second, func() bool { return checks.Load() > 0 })
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// A check cancelled by Close may still reach the backend's handler a moment later; let it land.
	time.Sleep(20 * time.Millisecond)
	n := checks.Load()
	time.Sleep(50 * time.Millisecond) // at a 10ms interval, a running checker would add about five
	if checks.Load() != n {
		t.Error("health checks continued after Close")
	}
}

func TestMaxConns(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		io.WriteString(w, "b")
	})
	base, in := site(t, "proxy / "+b.addr()+" {\n max_conns 1\n}")
	up := proxyHandler(t, in).Config.Upstreams[0]
	c := &http.Client{}
	done := make(chan int)
	go func() {
		resp, err := c.Get(base + "/hold")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, "the first request to hold the only slot", 5*time.Second, func() bool { return up.Conns() == 1 })
	if status, _, _ := get(t, c, base+"/"); status != http.StatusBadGateway {
		t.Errorf("over max_conns: %d, want 502", status)
	}
	close(release)
	if status := <-done; status != 200 {
		t.Errorf("held request: %d", status)
	}
	if status, _, _ := get(t, c, base+"/"); status != 200 {
		t.Errorf("after release: %d, want 200", status)
	}
}

// TestBackendKilledUnderLoad kills one of two backends while clients send GETs and POSTs: with
// try_duration set, no client sees an error.
func TestBackendKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	echo := func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	}
	a := newRestartable(t, "a", echo)
	b := newBackend(t, "b", echo)
	base, _ := site(t, fmt.Sprintf("proxy / %s %s {\n policy round_robin\n fail_timeout 10s\n try_duration 3s\n try_interval 10ms\n}", a.addr, b.addr()))
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	stop := make(chan struct{})
	var total, failed atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := strings.Repeat("x", (g*100+i)%3000)
				var resp *http.Response
				var err error
				if i%2 == 0 {
					resp, err = c.Post(base+"/", "text/plain", strings.NewReader(body))
				} else {
					resp, err = c.Get(base + "/")
					body = ""
				}
				total.Add(1)
				if err != nil {
					failed.Add(1)
					t.Errorf("request error: %v", err)
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != fmt.Sprint(len(body)) {
					failed.Add(1)
					t.Errorf("got %d %q, want 200 %d", resp.StatusCode, got, len(body))
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	a.kill()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || total.Load() < 50 {
		t.Errorf("%d of %d requests failed", failed.Load(), total.Load())
	}
	t.Logf("%d requests, %d failed", total.Load(), failed.Load())
}

func TestKeepAliveAndDialTimeout(t *testing.T) {
	var conns atomic.Int32
	b := &backend{name: "b"}
	b.srv = httptest.NewUnstartedServer(b.handler(nil))
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	c := &http.Client{}
	for _, tt := range []struct {
		opts      string
		wantConns int32
	}{{"", 1}, {"keepalive 0", 5}} {
		conns.Store(0)
		base, _ := site(t, "proxy / "+b.addr()+" {\n"+tt.opts+"\n}")
		for i := 0; i < 5; i++ {
			get(t, c, base+"/")
		}
		if got := conns.Load(); got != tt.wantConns {
			t.Errorf("%q: %d upstream connections for 5 requests, want %d", tt.opts, got, tt.wantConns)
		}
	}

	// 192.0.2.1 (TEST-NET-1) does not answer: the dial gives up after `timeout`.
	base, _ := site(t, "proxy / 192.0.2.1:81 {\n timeout 200ms\n}")
	start := time.Now()
	if status, _, _ := get(t, c, base+"/"); status != http.StatusBadGateway {
		t.Errorf("status %d, want 502", status)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dial took %v with timeout 200ms", d)
	}
}
