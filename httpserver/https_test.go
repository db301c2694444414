package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/tlsmgr"
)

// httpsOptions builds with automatic HTTPS as cmd/casket does: a `tls` directive and an AssignPort that
// moves qualifying sites to the HTTPS port.
func httpsOptions(mod func(*Options)) Options {
	o := testOptions()
	o.Directives = append(o.Directives, Directive{Name: "testbind", Setup: serverDirectives()[0].Setup},
		Directive{Name: "tls", Setup: func(d *casketfile.Dispenser, s *Site) (Middleware, error) {
			p, err := tlsmgr.ParsePolicy(d)
			s.TLS = p
			return nil, err
		}})
	o.AutoHTTPS = true
	if mod != nil {
		mod(&o)
	}
	httpPort, httpsPort := o.HTTPPort, o.HTTPSPort
	if httpPort == "" {
		httpPort = DefaultHTTPPort
	}
	if httpsPort == "" {
		httpsPort = DefaultHTTPSPort
	}
	o.AssignPort = func(s *Site) string {
		if tlsmgr.Qualifies(s.Addr.Host, "", "", s.TLS, httpPort) {
			return httpsPort
		}
		if s.TLS != nil && s.TLS.SelfSigned {
			s.Addr.Scheme = "https"
		}
		return ""
	}
	return o
}

// describeSites lists each site as "address" plus " tls" or " -> Location of GET /p?q" for redirects.
func describeSites(t *testing.T, in *Instance) []string {
	t.Helper()
	var out []string
	for _, s := range in.Sites() {
		d := s.Addr.String()
		if s.BindHost != "" {
			d += " bind " + s.BindHost
		}
		switch {
		case s.RedirectTo != nil:
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/p?q=1", nil)
			r.Host = "name.in.request:" + in.opts.HTTPPort
			if err := s.Handler().ServeHTTP(w, r); err != nil || w.Code != http.StatusMovedPermanently ||
				w.Header().Get("Connection") != "close" {
				t.Errorf("redirect of %s: %d %v %v", d, w.Code, w.Header(), err)
			}
			d += " -> " + w.Header().Get("Location")
		case s.TLSConfig != nil:
			d += " tls"
		}
		out = append(out, d)
	}
	return out
}

func TestBuildAutoHTTPS(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		opts    func(*Options)
		want    []string
		wantErr string
	}{
		{name: "managed site moves to 443 and gets a redirect", src: "a.example.com",
			want: []string{"https://a.example.com tls", "http://a.example.com -> https://name.in.request/p?q=1"}},
		{name: "plaintext variant defined: no redirect", src: "a.example.com {\n}\nhttp://a.example.com {\n}",
			want: []string{"https://a.example.com tls", "http://a.example.com"}},
		{name: "no_redirect", src: "a.example.com {\ntls {\nno_redirect\n}\n}",
			want: []string{"https://a.example.com tls"}},
		{name: "self_signed keeps -port and the redirect points there", src: "localhost {\ntls self_signed\n}",
			want: []string{"https://localhost:2015 tls", "http://localhost -> https://name.in.request:2015/p?q=1"}},
		{name: "explicit other port", src: "a.example.com:8443",
			want: []string{"https://a.example.com:8443 tls", "http://a.example.com -> https://name.in.request:8443/p?q=1"}},
		{name: "one redirect, to the HTTPS port", src: "a.example.com:8443 {\n}\na.example.com {\n}",
			want: []string{"https://a.example.com:8443 tls", "https://a.example.com tls", "http://a.example.com -> https://name.in.request/p?q=1"}},
		{name: "port 80 is plain", src: "a.example.com:80", want: []string{"http://a.example.com"}},
		{name: "localhost is plain", src: "localhost:8080", want: []string{"http://localhost:8080"}},
		{name: "IP is plain", src: "127.0.0.1", want: []string{"http://127.0.0.1:2015"}},
		{name: "tls off", src: "a.example.com {\ntls off\n}", want: []string{"http://a.example.com:2015"}},
		{name: "explicit https on a local name", src: "https://localhost:9443",
			want: []string{"https://localhost:9443 tls", "http://localhost -> https://name.in.request:9443/p?q=1"}},
		{name: "custom ports: redirect stays portless", src: "a.example.com",
			opts: func(o *Options) { o.HTTPPort, o.HTTPSPort = "8080", "8443" },
			want: []string{"https://a.example.com:8443 tls", "http://a.example.com:8080 -> https://name.in.request/p?q=1"}},
		{name: "bind host inherited", src: "a.example.com {\ntestbind\n}",
			want: []string{"https://a.example.com bind 127.0.0.1 tls", "http://a.example.com bind 127.0.0.1 -> https://name.in.request/p?q=1"}},
		{name: "same name, different protocols", src: "a.example.com/x {\ntls {\nprotocols tls1.3\n}\n}\na.example.com/y {\n}",
			wantErr: "different TLS settings (protocols)"},
		{name: "same name, different listeners are fine", src: "a.example.com:8443 {\ntls {\nprotocols tls1.3\n}\n}\na.example.com {\n}",
			want: []string{"https://a.example.com:8443 tls", "https://a.example.com tls", "http://a.example.com -> https://name.in.request/p?q=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Build(parseBlocks(t, tt.src), httpsOptions(tt.opts))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := describeSites(t, in)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("sites:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestSNIMatches(t *testing.T) {
	tests := []struct {
		name      string
		sni, host string
		want      bool
	}{
		{"same", "a.example.com", "a.example.com", true},
		{"case and port", "A.example.com", "a.EXAMPLE.com:8443", true},
		{"other name", "b.example.com", "a.example.com", false},
		{"no SNI, IP host", "", "127.0.0.1:8443", true},
		{"no SNI, name host", "", "a.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://x/", nil)
			r.Host = tt.host
			r.TLS.ServerName = tt.sni
			if got := sniMatches(r); got != tt.want {
				t.Errorf("sniMatches(sni %q, host %q) = %v, want %v", tt.sni, tt.host, got, tt.want)
			}
		})
	}
}
