package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/miekg/dns"

	"github.com/casketserver/casket/httpserver"
)

// srvServer is a tiny DNS server answering SRV queries for one name with the given targets.
func srvServer(t *testing.T, name string, targets []string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		if q.Qtype == dns.TypeSRV && q.Name == dns.Fqdn(name) {
			for _, tg := range targets {
				_, port, _ := net.SplitHostPort(tg)
				p, _ := strconv.Atoi(port)
				m.Answer = append(m.Answer, &dns.SRV{
					Hdr:    dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 30},
					Target: "localhost.", Port: uint16(p), Priority: 10, Weight: 10,
				})
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// serve wraps a provisioned handler in an error boundary like the server's.
func serve(t *testing.T, h *Handler) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r); err != nil {
			http.Error(w, err.Error(), httpserver.StatusOf(err))
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestSRV(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	res := srvServer(t, "_http._tcp.app.test", []string{a.addr(), b.addr()})
	cfg, err := Parse(dispenser(t, "proxy / srv://_http._tcp.app.test"))
	if err != nil {
		t.Fatal(err)
	}
	h := New(httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }), cfg)
	h.Resolver = res
	if err := h.Provision(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ts := serve(t, h)
	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		status, body, _ := get(t, ts.Client(), ts.URL+"/")
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		seen[body]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("SRV targets used: %v, want both (equal weights)", seen)
	}

	t.Run("lookup failure", func(t *testing.T) {
		cfg, _ := Parse(dispenser(t, "proxy / srv://_http._tcp.missing.test"))
		h := New(nil, cfg)
		h.Resolver = res
		if err := h.Provision(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		status, body, _ := get(t, ts.Client(), serve(t, h).URL+"/")
		if status != http.StatusBadGateway {
			t.Errorf("status = %d (%s), want 502", status, body)
		}
	})
}
