package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestForwardingHeaders(t *testing.T) {
	c := &http.Client{}
	b := newBackend(t, "b", nil)
	_, port, _ := net.SplitHostPort(b.addr())
	tests := []struct {
		name  string
		opts  string
		hdr   []string
		want  map[string]string // request header seen by the backend; "" means absent
		host  string            // Host seen by the backend
		check func(t *testing.T, r *http.Request)
	}{
		{
			name: "defaults",
			hdr:  []string{"Host", "site.example", "X-Forwarded-For", "203.0.113.7", "X-Forwarded-Proto", "https"},
			want: map[string]string{
				"X-Forwarded-For":   "203.0.113.7, 127.0.0.1", // appended, never overwritten
				"X-Forwarded-Proto": "http",                   // what this hop saw
				"X-Forwarded-Host":  "site.example",
				"X-Real-Ip":         "",
			},
			host: "127.0.0.1:" + port,
		},
		{
			name: "several X-Forwarded-For fields are joined",
			hdr:  []string{"X-Forwarded-For", "10.0.0.1", "X-Forwarded-For", "10.0.0.2"},
			want: map[string]string{"X-Forwarded-For": "10.0.0.1, 10.0.0.2, 127.0.0.1"},
		},
		{
			name: "transparent",
			opts: "transparent",
			hdr:  []string{"Host", "site.example", "X-Forwarded-For", "203.0.113.7"},
			want: map[string]string{
				"X-Forwarded-For":  "203.0.113.7, 127.0.0.1",
				"X-Real-Ip":        "127.0.0.1",
				"X-Forwarded-Host": "site.example",
			},
			host: "site.example",
			check: func(t *testing.T, r *http.Request) {
				if r.Header.Get("X-Forwarded-Port") == "" {
					t.Error("transparent did not set X-Forwarded-Port")
				}
			},
		},
		{
			name: "set add remove replace with placeholders",
			opts: "header_upstream X-Method {method}\n header_upstream +X-Multi two\n header_upstream -X-Secret\n" +
				" header_upstream X-Token ^Bearer\\s+(.*)$ token=$1\n header_upstream Host backend.internal",
			hdr: []string{"X-Multi", "one", "X-Secret", "s", "X-Token", "Bearer abc"},
			want: map[string]string{
				"X-Method": "GET", "X-Secret": "", "X-Token": "token=abc",
			},
			host: "backend.internal",
			check: func(t *testing.T, r *http.Request) {
				if got := r.Header.Values("X-Multi"); strings.Join(got, ",") != "one,two" {
					t.Errorf("X-Multi = %q", got)
				}
			},
		},
		{
			name: "removing X-Forwarded-For",
			opts: "header_upstream -X-Forwarded-For",
			hdr:  []string{"X-Forwarded-For", "1.2.3.4"},
			want: map[string]string{"X-Forwarded-For": ""},
		},
		{
			name: "hop-by-hop fields are not forwarded",
			hdr:  []string{"Connection", "X-Drop", "X-Drop", "1", "Keep-Alive", "5", "Proxy", "http://evil"},
			want: map[string]string{"X-Drop": "", "Keep-Alive": "", "Connection": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _ := site(t, "proxy / "+b.addr()+" {\n"+tt.opts+"\n}")
			if status, _, _ := get(t, c, base+"/x?q=1", tt.hdr...); status != 200 {
				t.Fatalf("status %d", status)
			}
			r := b.lastRequest()
			for k, v := range tt.want {
				if got := strings.Join(r.Header.Values(k), ", "); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tt.host != "" && r.Host != tt.host {
				t.Errorf("Host = %q, want %q", r.Host, tt.host)
			}
			if !strings.Contains(r.Header.Get("Via"), "casket-") {
				t.Errorf("Via = %q, want the loop marker", r.Header.Get("Via"))
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestDownstreamHeaders(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "backend/1.0")
		w.Header().Set("X-Version", "v1.2.3")
		w.Header().Add("X-Multi", "one")
		w.Write([]byte("ok"))
	})
	base, _ := site(t, "proxy / "+b.addr()+" {\n header_downstream -Server\n header_downstream +X-Multi two\n"+
		" header_downstream X-Version ^v(.*)$ version-$1\n header_downstream X-Upstream {upstream}\n header_downstream X-Path {path}\n}")
	status, body, resp := get(t, &http.Client{}, base+"/p")
	if status != 200 || body != "ok" {
		t.Fatalf("got %d %q", status, body)
	}
	for k, want := range map[string]string{
		"Server":     "", // removed altogether
		"X-Multi":    "one, two",
		"X-Version":  "version-1.2.3",
		"X-Upstream": "http://" + b.addr(),
		"X-Path":     "/p",
	} {
		if got := strings.Join(resp.Header.Values(k), ", "); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestPaths(t *testing.T) {
	c := &http.Client{}
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.URL.RequestURI())) })
	tests := []struct {
		name, src, path string
		status          int
		body            string
	}{
		{name: "path kept", src: "proxy /api " + b.addr(), path: "/api/users?x=1", status: 200, body: "/api/users?x=1"},
		{name: "not under from", src: "proxy /api " + b.addr(), path: "/other", status: 404},
		{name: "without", src: "proxy /api " + b.addr() + " {\n without /api\n}", path: "/api/users?x=1", status: 200, body: "/users?x=1"},
		{name: "without everything", src: "proxy /api " + b.addr() + " {\n without /api\n}", path: "/api", status: 200, body: "/"},
		{name: "escaped path", src: "proxy / " + b.addr(), path: "/a%2Fb", status: 200, body: "/a%2Fb"},
		{name: "except", src: "proxy / " + b.addr() + " {\n except /static /img\n}", path: "/static/a.css", status: 404},
		{name: "not excepted", src: "proxy / " + b.addr() + " {\n except /static\n}", path: "/app", status: 200, body: "/app"},
		{name: "upstream path prefix", src: "proxy /api http://" + b.addr() + "/v2/", path: "/api/users", status: 200, body: "/v2/api/users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _ := site(t, tt.src)
			status, body, _ := get(t, c, base+tt.path)
			if status != tt.status || (tt.body != "" && body != tt.body) {
				t.Errorf("got %d %q, want %d %q", status, body, tt.status, tt.body)
			}
		})
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: "unix"}
	b.srv = httptest.NewUnstartedServer(b.handler(nil))
	b.srv.Listener = ln
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	base, _ := site(t, "proxy / unix:"+sock)
	if status, body, _ := get(t, &http.Client{}, base+"/"); status != 200 || body != "unix" {
		t.Fatalf("got %d %q", status, body)
	}
}

// TestLoop points a site at its own listener: the request comes back carrying this proxy's Via marker
// and is refused with 508 instead of looping until resources run out.
func TestLoop(t *testing.T) {
	addr := deadAddr(t)
	base, _ := siteAt(t, addr, "proxy / "+addr)
	status, body, resp := get(t, &http.Client{}, base+"/loop")
	if status != http.StatusLoopDetected {
		t.Fatalf("status = %d (%q), want 508", status, body)
	}
	if via := resp.Header.Get("Via"); via != "" {
		t.Logf("Via on the response: %q", via)
	}
}

func TestNotProvisioned(t *testing.T) {
	cfg := &Config{From: "/", Upstreams: []*Upstream{{Name: "http://x", Scheme: "http", Host: "x"}}, Policy: "random"}
	h := New(nil, cfg)
	err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err == nil || !strings.Contains(err.Error(), "before Provision") {
		t.Fatalf("err = %v", err)
	}
}

// TestForwardedProtoAndVia checks what a TLS and an HTTP/2 client connection give upstream, calling the
// handler directly with such requests.
func TestForwardedProtoAndVia(t *testing.T) {
	b := newBackend(t, "b", nil)
	cfg, err := Parse(dispenser(t, "proxy / "+b.addr()))
	if err != nil {
		t.Fatal(err)
	}
	h := New(nil, cfg)
	if err := h.Provision(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	r := httptest.NewRequest("GET", "https://secure.example/x", nil) // r.TLS is set
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set("Via", "1.1 other-proxy")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r); err != nil || w.Code != 200 {
		t.Fatalf("%d %v", w.Code, err)
	}
	got := b.lastRequest()
	if p := got.Header.Get("X-Forwarded-Proto"); p != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want https", p)
	}
	if via := strings.Join(got.Header.Values("Via"), ", "); via != "1.1 other-proxy, 2 "+h.viaID {
		t.Errorf("Via = %q", via)
	}
}
