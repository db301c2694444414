package httpserver

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/casketserver/casket/casketfile"
)

type response struct {
	status int
	header http.Header
	body   string
}

func get(t testing.TB, c *http.Client, url, host string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func baseURL(in *Instance) string { return "http://" + in.ListenerAddrs()[0].String() }

const dispatchConfig = `a.example:0 {
	testbind
}
b.example:0 {
	testbind
	first
}
b.example:0/api {
	testbind
	respond info
}
*.wild.example:0 {
	testbind
	respond forbidden
}
panic.example:0 {
	testbind
	respond panic
}
late-panic.example:0 {
	testbind
	respond panic-after-write
}
late-error.example:0 {
	testbind
	respond error-after-write
}
plain-error.example:0 {
	testbind
	respond plain-error
}
`

func TestServeDispatch(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	in := startInstance(t, newPool(t), dispatchConfig, func(o *Options) { o.Logger = zap.New(core) })
	if n := len(in.ListenerAddrs()); n != 1 {
		t.Fatalf("%d listeners, want 1 (all sites share 127.0.0.1:0)", n)
	}
	url := baseURL(in)
	c := &http.Client{}

	tests := []struct {
		name       string
		host, path string
		status     int
		body       string
		header     map[string]string
	}{
		{name: "site a", host: "a.example", path: "/x", status: 200, body: "site a.example:0 path /x"},
		{name: "site b with middleware", host: "B.example:1234", path: "/", status: 200, body: "site b.example:0 path /",
			header: map[string]string{"X-Order": "first"}},
		{name: "base path trimmed", host: "b.example", path: "/api/v1?q=1", status: 200, body: "/v1",
			header: map[string]string{"X-Site": "b.example:0/api", "X-Original": "/api/v1", "X-Has-Recorder": "true"}},
		{name: "base path exact", host: "b.example", path: "/api", status: 200, body: "/"},
		{name: "base path character prefix", host: "b.example", path: "/apix", status: 200, body: "/x"},
		{name: "wildcard and error status", host: "www.wild.example", path: "/", status: 403, body: "Forbidden\n"},
		{name: "unknown host", host: "nope.example", path: "/", status: 404,
			body: "Site nope.example is not served on this interface\n"},
		{name: "panic recovered", host: "panic.example", path: "/", status: 500, body: "Internal Server Error\n"},
		{name: "error after write keeps status", host: "late-error.example", path: "/", status: 202, body: ""},
		{name: "plain error is 500", host: "plain-error.example", path: "/", status: 500, body: "Internal Server Error\n"},
		{name: "still alive after panic", host: "a.example", path: "/", status: 200, body: "site a.example:0 path /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, c, url+tt.path, tt.host)
			if r.status != tt.status || r.body != tt.body {
				t.Errorf("got %d %q, want %d %q", r.status, r.body, tt.status, tt.body)
			}
			if got := r.header.Get("Server"); got != "Casket" {
				t.Errorf("Server header %q, want Casket", got)
			}
			for k, v := range tt.header {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}

	if n := logs.FilterMessage("panic serving request").Len(); n != 1 {
		t.Errorf("%d panic log entries, want 1", n)
	}
	if n := logs.FilterMessage("handler error").FilterField(zap.Int("status", 500)).Len(); n < 1 {
		t.Errorf("500 handler error not logged")
	}
	for _, e := range logs.FilterMessage("handler error").FilterField(zap.Int("status", 403)).All() {
		if e.Level != zap.DebugLevel {
			t.Errorf("403 logged at %v, want debug", e.Level)
		}
	}
}

func TestServePanicAfterWriteAbortsConnection(t *testing.T) {
	in := startInstance(t, newPool(t), dispatchConfig, nil)
	req, _ := http.NewRequest("GET", baseURL(in)+"/", nil)
	req.Host = "late-panic.example"
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a panic after the response started should abort the connection, got a clean response")
	}
	// The server survives.
	if r := get(t, &http.Client{}, baseURL(in)+"/", "a.example"); r.status != 200 {
		t.Errorf("after the panic: status %d", r.status)
	}
}

func TestServeInterceptOnPlainHTTP(t *testing.T) {
	in := startInstance(t, newPool(t), "a.example:0 {\n testbind\n}", func(o *Options) {
		o.Intercept = func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
				return false
			}
			_, _ = io.WriteString(w, "token")
			return true
		}
	})
	// Answered even for a host no site serves.
	if r := get(t, &http.Client{}, baseURL(in)+"/.well-known/acme-challenge/x", "unknown.example"); r.body != "token" {
		t.Errorf("challenge: %d %q", r.status, r.body)
	}
	if r := get(t, &http.Client{}, baseURL(in)+"/", "a.example"); r.status != 200 {
		t.Errorf("normal request: %d %q", r.status, r.body)
	}
}

func TestListenerGroupingByBindHost(t *testing.T) {
	in, err := Build(parseBlocks(t, "a.example:8080 {\n testbind\n}\nb.example:8080 {\n}\nc.example:8080 {\n testbind\n}\n[::1]:9000 {\n}"),
		Options{Directives: serverDirectives()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:8080", ":8080", ":9000"}
	if got := in.Addresses(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Addresses() = %q, want %q (the -host/site host never decides the bind address)", got, want)
	}
}

func TestListenerTimeoutsAndHeaderLimit(t *testing.T) {
	tests := []struct {
		name  string
		sites []Timeouts
		want  Timeouts
	}{
		{name: "defaults", sites: []Timeouts{{}, {}},
			want: Timeouts{Read: 0, ReadHeader: 10 * time.Second, Write: 0, Idle: 5 * time.Minute}},
		{name: "minimum wins", sites: []Timeouts{{Read: 30 * time.Second, Idle: time.Minute}, {Read: 10 * time.Second}},
			want: Timeouts{Read: 10 * time.Second, ReadHeader: 10 * time.Second, Idle: time.Minute}},
		{name: "none only when every setter says none", sites: []Timeouts{{Idle: -1}, {Idle: 2 * time.Minute}},
			want: Timeouts{ReadHeader: 10 * time.Second, Idle: 2 * time.Minute}},
		{name: "none", sites: []Timeouts{{ReadHeader: -1, Idle: -1}, {}}, want: Timeouts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sites []*Site
			for _, to := range tt.sites {
				sites = append(sites, &Site{Timeouts: to})
			}
			if got := listenerTimeouts(sites); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := listenerMaxHeaderBytes([]*Site{{MaxHeaderBytes: 0}, {MaxHeaderBytes: 4096}, {MaxHeaderBytes: 8192}}); got != 4096 {
		t.Errorf("max header bytes %d, want 4096", got)
	}

	// The reduced values reach the http.Server: an oversized header is refused.
	in := startInstance(t, newPool(t), "a.example:0 {\n testbind\n small\n}\nb.example:0 {\n testbind\n}", func(o *Options) {
		o.Directives = append(o.Directives, Directive{Name: "small", Setup: func(_ *casketfile.Dispenser, s *Site) (Middleware, error) {
			s.MaxHeaderBytes = 2048
			s.Timeouts.Write = 30 * time.Second
			return nil, nil
		}})
	})
	hs := in.servers[0].http
	if hs.MaxHeaderBytes != 2048 || hs.WriteTimeout != 30*time.Second || hs.ReadHeaderTimeout != DefaultReadHeaderTimeout ||
		hs.IdleTimeout != DefaultIdleTimeout {
		t.Errorf("http.Server: max header %d, write %v, read header %v, idle %v", hs.MaxHeaderBytes, hs.WriteTimeout,
			hs.ReadHeaderTimeout, hs.IdleTimeout)
	}
	req, _ := http.NewRequest("GET", baseURL(in)+"/", nil)
	req.Host = "b.example"
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: status %d, want 431", resp.StatusCode)
	}
}

func TestServeHTTP10WithoutHost(t *testing.T) {
	in := startInstance(t, newPool(t), ":0 {\n testbind\n}", nil)
	conn, err := net.Dial("tcp", in.ListenerAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /x HTTP/1.0\r\n\r\n")
	body, _ := io.ReadAll(conn)
	if !bytes.HasPrefix(body, []byte("HTTP/1.0 200")) || !bytes.HasSuffix(body, []byte("site :0 path /x")) {
		t.Errorf("response %q", body)
	}
}

func TestStartFailureUndoes(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())

	var provisioned, closed bool
	opts := Options{Directives: append(serverDirectives(), Directive{Name: "res",
		Setup: func(_ *casketfile.Dispenser, s *Site) (Middleware, error) {
			return func(next Handler) Handler {
				return &lifecycleHandler{next: next, provisioned: &provisioned, closed: &closed}
			}, nil
		}}), Final: okFinal}
	pool := newPool(t)
	src := "a.example:0 {\n testbind\n res\n}\nb.example:" + port + " {\n testbind\n}"
	in, err := Build(parseBlocks(t, src), opts)
	if err != nil {
		t.Fatal(err)
	}
	err = in.Start(context.Background(), pool)
	if err == nil || !strings.Contains(err.Error(), "listening on 127.0.0.1:"+port) {
		t.Fatalf("Start = %v, want a listen error", err)
	}
	if !provisioned || !closed {
		t.Errorf("provisioned=%v closed=%v, want the handler provisioned then closed", provisioned, closed)
	}
	if n := len(pool.socks); n != 0 {
		t.Errorf("pool still holds %d sockets after a failed Start", n)
	}
}

func TestStartProvisionFailure(t *testing.T) {
	var closed bool
	opts := Options{Directives: append(serverDirectives(), Directive{Name: "res",
		Setup: func(_ *casketfile.Dispenser, s *Site) (Middleware, error) {
			return func(next Handler) Handler {
				return &lifecycleHandler{next: next, closed: &closed, failWith: io.ErrUnexpectedEOF}
			}, nil
		}}), Final: okFinal}
	in, err := Build(parseBlocks(t, "a.example:0 {\n testbind\n res\n}"), opts)
	if err != nil {
		t.Fatal(err)
	}
	pool := newPool(t)
	if err := in.Start(context.Background(), pool); err == nil || !strings.Contains(err.Error(), "provisioning site a.example:0") {
		t.Fatalf("Start = %v, want a provisioning error", err)
	}
	if !closed {
		t.Error("the handler whose Provision failed was not closed")
	}
	if len(pool.socks) != 0 {
		t.Error("sockets opened although provisioning failed")
	}
}

func TestStopClosesHandlers(t *testing.T) {
	var provisioned, closed bool
	in := startInstance(t, newPool(t), "a.example:0 {\n testbind\n res\n}", func(o *Options) {
		o.Directives = append(o.Directives, Directive{Name: "res",
			Setup: func(_ *casketfile.Dispenser, s *Site) (Middleware, error) {
				return func(next Handler) Handler {
					return &lifecycleHandler{next: next, provisioned: &provisioned, closed: &closed}
				}, nil
			}})
	})
	if !provisioned || closed {
		t.Fatalf("after Start: provisioned=%v closed=%v", provisioned, closed)
	}
	addr := in.ListenerAddrs()[0].String()
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !closed {
		t.Error("Stop did not close the handler")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("socket still open after the only instance stopped")
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := in.Start(context.Background(), newPool(t)); err == nil {
		t.Error("restarting a stopped instance should fail")
	}
}

func TestStartMixedBindHint(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(probe.Addr().String())
	probe.Close()
	in, err := Build(parseBlocks(t, "a.example:"+port+" {\n testbind\n}\nb.example:"+port+" {\n}"),
		Options{Directives: serverDirectives(), Final: okFinal})
	if err != nil {
		t.Fatal(err)
	}
	err = in.Start(context.Background(), newPool(t))
	if err == nil {
		// Some systems let a specific bind coexist with a wildcard one.
		_ = in.Stop(context.Background())
		return
	}
	if !strings.Contains(err.Error(), "give all sites of a port the same `bind`") {
		t.Errorf("error %q lacks the bind hint", err)
	}
}
