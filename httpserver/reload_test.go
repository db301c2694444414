package httpserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/casketfile"
)

// blockingDirective returns a directive whose handler signals entered and then waits for release.
func blockingDirective(entered chan<- struct{}, release <-chan struct{}) Directive {
	return Directive{Name: "block", Setup: func(_ *casketfile.Dispenser, s *Site) (Middleware, error) {
		return func(next Handler) Handler {
			return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				entered <- struct{}{}
				<-release
				_, err := io.WriteString(w, "finished")
				return err
			})
		}, nil
	}}
}

func TestStopWaitsForInFlightRequest(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	in := startInstance(t, newPool(t), "a.example:0 {\n testbind\n block\n}", func(o *Options) {
		o.Directives = append(o.Directives, blockingDirective(entered, release))
	})
	url := baseURL(in)

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", url+"/", nil)
		req.Host = "a.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- in.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a request was in flight", err)
	case <-time.After(150 * time.Millisecond):
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v; want it to finish", r.body, r.err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the request finished")
	}
}

func TestStopGivesUpAtDeadline(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	in := startInstance(t, newPool(t), "a.example:0 {\n testbind\n block\n}", func(o *Options) {
		o.Directives = append(o.Directives, blockingDirective(entered, release))
	})
	go func() {
		req, _ := http.NewRequest("GET", baseURL(in)+"/", nil)
		req.Host = "a.example"
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := in.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop took %v, want it to give up at the deadline", d)
	}
}

// TestReloadUnderLoad hammers one listener from several goroutines while the configuration is
// reloaded 20 times (build new, start new on the same pool, stop old) and requires zero failures.
func TestReloadUnderLoad(t *testing.T) { reloadUnderLoad(t, 20, false) }

// TestReloadUnderLoadTLS does the same over TLS, with HTTP/2 and HTTP/1.1 clients.
func TestReloadUnderLoadTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: each stop waits for HTTP/2 clients to leave after GOAWAY")
	}
	reloadUnderLoad(t, 20, true)
}

func reloadUnderLoad(t *testing.T, reloads int, useTLS bool) {
	var tlsCfg *tls.Config
	var leaf *x509.Certificate
	if useTLS {
		var cert tls.Certificate
		cert, leaf = selfSigned(t, "a.example")
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	pool := newPool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := pool.Adopt(addr, ln); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	src := "a.example:" + port + " {\n testbind\n}"

	build := func(gen int) *Instance {
		in, err := Build(parseBlocks(t, src), Options{
			Directives: serverDirectives(),
			Root:       fmt.Sprint(gen),
			Final: func(s *Site) Handler {
				return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					if r.URL.Path == "/slow" {
						time.Sleep(20 * time.Millisecond)
					}
					_, err := io.WriteString(w, "gen "+s.Root)
					return err
				})
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := in.Addresses(); len(got) != 1 || got[0] != addr {
			t.Fatalf("Addresses() = %q, want [%s]", got, addr)
		}
		in.Sites()[0].TLSConfig = tlsCfg
		return in
	}
	stop := func(in *Instance) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}

	current := build(0)
	if err := current.Start(context.Background(), pool); err != nil {
		t.Fatal(err)
	}

	var (
		done      = make(chan struct{})
		wg        sync.WaitGroup
		requests  atomic.Int64
		failures  atomic.Int64
		firstErrs sync.Map
		lastGen   atomic.Value
	)
	for i := range 8 {
		wg.Go(func() {
			tr := &http.Transport{DisableKeepAlives: i%2 == 1, MaxIdleConnsPerHost: 4}
			scheme := "http"
			if useTLS {
				scheme = "https"
				roots := x509.NewCertPool()
				roots.AddCert(leaf)
				tr.TLSClientConfig = &tls.Config{RootCAs: roots, ServerName: "a.example"}
				tr.ForceAttemptHTTP2 = i%3 != 2 // some clients stay on HTTP/1.1
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			path := "/"
			if i%4 == 0 {
				path = "/slow"
			}
			for {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest("GET", scheme+"://"+addr+path, nil)
				req.Host = "a.example"
				resp, err := c.Do(req)
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					firstErrs.LoadOrStore(i, err.Error())
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(b), "gen ") {
					failures.Add(1)
					firstErrs.LoadOrStore(i, fmt.Sprintf("status %d body %q err %v", resp.StatusCode, b, err))
					continue
				}
				lastGen.Store(string(b))
			}
		})
	}

	for gen := 1; gen <= reloads; gen++ {
		time.Sleep(15 * time.Millisecond)
		next := build(gen)
		if err := next.Start(context.Background(), pool); err != nil {
			t.Fatalf("reload %d: Start: %v", gen, err)
		}
		stop(current)
		current = next
	}
	time.Sleep(30 * time.Millisecond)
	close(done)
	wg.Wait()
	stop(current)

	if n := failures.Load(); n != 0 {
		firstErrs.Range(func(k, v any) bool { t.Logf("client %v: %v", k, v); return true })
		t.Errorf("%d of %d requests failed during %d reloads", n, requests.Load(), reloads)
	}
	if requests.Load() < 100 {
		t.Errorf("only %d requests made; the test did not hammer", requests.Load())
	}
	if g, _ := lastGen.Load().(string); g != fmt.Sprint("gen ", reloads) {
		t.Errorf("last response came from %q, want the last configuration (gen %d)", g, reloads)
	}
	if _, held := pool.Listener(addr); held {
		t.Error("socket still held after the last instance stopped")
	}
	t.Logf("%d requests, 0 failures", requests.Load())
}

func TestPoolSharesAndReleasesSockets(t *testing.T) {
	pool := NewListenerPool()
	a, err := pool.acquire("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := pool.acquire("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.refs != 2 {
		t.Fatalf("second acquire made a new socket (refs %d)", a.refs)
	}
	bound := a.ln.Addr().String()
	pool.release(a)
	if c, err := net.Dial("tcp", bound); err != nil {
		t.Errorf("socket closed while still held: %v", err)
	} else {
		c.Close()
	}
	pool.release(b)
	<-a.dead
	if c, err := net.DialTimeout("tcp", bound, time.Second); err == nil {
		c.Close()
		t.Error("socket open after the last release")
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.acquire("127.0.0.1:0"); err == nil {
		t.Error("acquire on a closed pool succeeded")
	}
}

func TestPoolListenerCloseKeepsSocket(t *testing.T) {
	pool := newPool(t)
	s, err := pool.acquire("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.release(s)
	l1, l2 := newPoolListener(s), newPoolListener(s)
	accepted := make(chan error, 1)
	go func() {
		_, err := l1.Accept()
		accepted <- err
	}()
	time.Sleep(10 * time.Millisecond)
	l1.Close()
	if err := <-accepted; err == nil {
		t.Fatal("Accept on a closed pool listener returned a connection")
	}
	// The socket still accepts, for the other holder.
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := l2.Accept()
	if err != nil {
		t.Fatalf("second holder: %v", err)
	}
	conn.Close()
	if err := pool.Adopt(s.addr, s.ln); err == nil {
		t.Error("adopting an address the pool already holds succeeded")
	}
}

// The process shutdown path closes the pool first (refusing new connections at once), then stops.
func TestStopAfterPoolClose(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	pool := NewListenerPool()
	in := startInstance(t, pool, "a.example:0 {\n testbind\n block\n}", func(o *Options) {
		o.Directives = append(o.Directives, blockingDirective(entered, release))
	})
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", baseURL(in)+"/", nil)
		req.Host = "a.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	addr := in.ListenerAddrs()[0].String()
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("new connections still accepted after the pool closed")
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- in.Stop(ctx)
	}()
	close(release)
	if body := <-got; body != "finished" {
		t.Errorf("in-flight request got %q", body)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
}
