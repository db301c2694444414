package httpserver

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"reflect"
	"testing"
)

// tlsClient trusts the given certificates and speaks HTTP/2 when the server offers it.
// Its idle connections are closed when the test ends, before the server stops.
func tlsClient(t *testing.T, h2 bool, roots ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// tlsSites gives a.example and b.example certificates of their own (and thus two TLS configs).
func tlsSites(t *testing.T) (assign func(*Site) string, roots []*x509.Certificate) {
	certA, leafA := selfSigned(t, "a.example")
	certB, leafB := selfSigned(t, "b.example", "*.wild.example")
	cfgA := &tls.Config{Certificates: []tls.Certificate{certA}}
	cfgB := &tls.Config{Certificates: []tls.Certificate{certB}, NextProtos: []string{"acme-tls/1"}}
	return func(s *Site) string {
		if s.Addr.Host == "a.example" {
			s.TLSConfig = cfgA
		} else {
			s.TLSConfig = cfgB
		}
		return ""
	}, []*x509.Certificate{leafA, leafB}
}

const tlsConfigText = `a.example:0 {
	testbind
	respond proto
}
b.example:0 {
	testbind
	respond info
}
*.wild.example:0 {
	testbind
	respond proto
}
`

func TestServeTLS(t *testing.T) {
	assign, roots := tlsSites(t)
	in := startTLSInstance(t, tlsConfigText, assign, false)
	addr := in.ListenerAddrs()[0].String()

	tests := []struct {
		name   string
		h2     bool
		host   string
		path   string
		status int
		body   string
		proto  string
	}{
		{name: "h2 to a", h2: true, host: "a.example", path: "/", status: 200, body: "HTTP/2.0", proto: "HTTP/2.0"},
		{name: "http/1.1 to a", h2: false, host: "a.example", path: "/", status: 200, body: "HTTP/1.1", proto: "HTTP/1.1"},
		{name: "SNI picks b's certificate", h2: true, host: "b.example", path: "/p", status: 200, body: "/p", proto: "HTTP/2.0"},
		{name: "wildcard SNI", h2: true, host: "x.wild.example", path: "/", status: 200, body: "HTTP/2.0", proto: "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tlsClient(t, tt.h2, roots...)
			c.Transport.(*http.Transport).TLSClientConfig.ServerName = tt.host
			req, _ := http.NewRequest("GET", "https://"+addr+tt.path, nil)
			req.Host = tt.host
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := readAll(t, resp)
			if resp.StatusCode != tt.status || body != tt.body || resp.Proto != tt.proto {
				t.Errorf("got %d %q over %s, want %d %q over %s", resp.StatusCode, body, resp.Proto, tt.status, tt.body, tt.proto)
			}
			if resp.Header.Get("Server") != "Casket" {
				t.Errorf("Server header %q", resp.Header.Get("Server"))
			}
			// An HTTP/2 connection is known as such, so draining leaves it to GOAWAY.
			if tt.h2 && countH2(&in.servers[0].conns) == 0 {
				t.Error("no connection marked as HTTP/2 after an HTTP/2 exchange")
			}
		})
	}
}

func TestServeTLSMisdirected(t *testing.T) {
	assign, roots := tlsSites(t)
	in := startTLSInstance(t, tlsConfigText, assign, false)
	addr := in.ListenerAddrs()[0].String()
	for _, h2 := range []bool{true, false} {
		c := tlsClient(t, h2, roots...)
		c.Transport.(*http.Transport).TLSClientConfig.ServerName = "a.example"
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		req.Host = "other.example" // a connection for a.example reused for another host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		want := http.StatusNotFound
		if h2 {
			want = http.StatusMisdirectedRequest
		}
		if resp.StatusCode != want || body != "Site other.example is not served on this interface\n" {
			t.Errorf("h2=%v: got %d %q, want %d", h2, resp.StatusCode, body, want)
		}
	}
}

func TestServeTLSWithoutHTTP2(t *testing.T) {
	assign, roots := tlsSites(t)
	in := startTLSInstance(t, tlsConfigText, assign, true)
	c := tlsClient(t, true, roots...)
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "a.example"
	req, _ := http.NewRequest("GET", "https://"+in.ListenerAddrs()[0].String()+"/", nil)
	req.Host = "a.example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body := readAll(t, resp); body != "HTTP/1.1" {
		t.Errorf("with HTTP/2 disabled the request went over %q", body)
	}
}

func TestMergeALPN(t *testing.T) {
	tests := []struct {
		own     []string
		disable bool
		want    []string
	}{
		{nil, false, []string{"h2", "http/1.1"}},
		{nil, true, []string{"http/1.1"}},
		{[]string{"acme-tls/1"}, false, []string{"h2", "http/1.1", "acme-tls/1"}},
		{[]string{"http/1.1"}, false, []string{"http/1.1"}},
		{[]string{"h2", "http/1.1", "acme-tls/1"}, true, []string{"http/1.1", "acme-tls/1"}},
	}
	for _, tt := range tests {
		if got := mergeALPN(tt.own, tt.disable); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("mergeALPN(%q, %v) = %q, want %q", tt.own, tt.disable, got, tt.want)
		}
	}
}

// startTLSInstance builds src, applies assign to every site (as automatic HTTPS would between Build and
// Start) and starts it.
func startTLSInstance(t *testing.T, src string, assign func(*Site) string, disableHTTP2 bool) *Instance {
	t.Helper()
	in, err := Build(parseBlocks(t, src), Options{Directives: serverDirectives(), Final: okFinal, DisableHTTP2: disableHTTP2})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range in.Sites() {
		assign(s)
	}
	startBuilt(t, in, newPool(t))
	return in
}

func countH2(t *connTracker) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, ci := range t.conns {
		if ci.h2.Load() {
			n++
		}
	}
	return n
}
