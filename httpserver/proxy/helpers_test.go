package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/bind"
	"github.com/casketserver/casket/internal/testutil"
)

// backend is a real upstream server that answers with its name and remembers the last request.
type backend struct {
	name string
	srv  *httptest.Server

	mu   sync.Mutex
	last *http.Request
	hits int
}

func newBackend(t *testing.T, name string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(b.handler(h))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) handler(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.last = r.Clone(context.Background())
		b.hits++
		b.mu.Unlock()
		w.Header().Set("X-Backend", b.name)
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, b.name)
	})
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

func (b *backend) lastRequest() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits
}

// site runs a real Casket server whose only directive is the given proxy block (and whatever else src
// holds), and returns its base URL and the instance.
func site(t *testing.T, src string) (string, *httpserver.Instance) {
	t.Helper()
	return siteAt(t, ":0", src)
}

func siteAt(t *testing.T, addr, src string) (string, *httpserver.Instance) {
	t.Helper()
	blocks, err := casketfile.Parse("Casketfile", []byte(addr+" {\n\tbind 127.0.0.1\n"+src+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	dirs := []httpserver.Directive{{Name: "bind", Setup: bind.Setup}, {Name: "proxy", Setup: Setup}}
	in, err := httpserver.Build(blocks, httpserver.Options{Directives: dirs})
	if err != nil {
		t.Fatal(err)
	}
	pool := httpserver.NewListenerPool()
	t.Cleanup(func() { _ = pool.Close() })
	if err := in.Start(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Stop(ctx)
	})
	return "http://" + in.ListenerAddrs()[0].String(), in
}

// proxyHandler returns the first proxy handler of the instance's only site.
func proxyHandler(t *testing.T, in *httpserver.Instance) *Handler {
	t.Helper()
	h, ok := in.Sites()[0].Handler().(*Handler)
	if !ok {
		t.Fatalf("outermost handler is %T, want *proxy.Handler", in.Sites()[0].Handler())
	}
	return h
}

// get fetches url and returns the status, body and response.
func get(t *testing.T, c *http.Client, url string, hdr ...string) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dispenser(t *testing.T, src string) *casketfile.Dispenser { return testutil.Dispenser(t, src) }

// benchSite is site for benchmarks; stop ends the server.
func benchSite(b *testing.B, src string) (string, func()) {
	blocks, err := casketfile.Parse("Casketfile", []byte("127.0.0.1:0 {\n\tbind 127.0.0.1\n"+src+"\n}"))
	if err != nil {
		b.Fatal(err)
	}
	dirs := []httpserver.Directive{{Name: "bind", Setup: bind.Setup}, {Name: "proxy", Setup: Setup}}
	in, err := httpserver.Build(blocks, httpserver.Options{Directives: dirs})
	if err != nil {
		b.Fatal(err)
	}
	pool := httpserver.NewListenerPool()
	if err := in.Start(context.Background(), pool); err != nil {
		b.Fatal(err)
	}
	return "http://" + in.ListenerAddrs()[0].String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Stop(ctx)
		_ = pool.Close()
	}
}
