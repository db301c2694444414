package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/testutil"
)

func upstreamNames(cfg *Config) []string {
	var names []string
	for _, u := range cfg.Upstreams {
		names = append(names, u.Name)
	}
	return names
}

func TestParseUpstreams(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		wantErr string
	}{
		{name: "host:port", src: "proxy / localhost:4001 localhost:4002", want: []string{"http://localhost:4001", "http://localhost:4002"}},
		{name: "schemes and default ports", src: "proxy / http://a https://b", want: []string{"http://a:80", "https://b:443"}},
		{name: "ipv6", src: "proxy / [::1]:8080", want: []string{"http://[::1]:8080"}},
		{name: "port range", src: "proxy / 10.0.0.1:8080-8082", want: []string{"http://10.0.0.1:8080", "http://10.0.0.1:8081", "http://10.0.0.1:8082"}},
		{name: "https port range", src: "proxy / https://h:9000-9001", want: []string{"https://h:9000", "https://h:9001"}},
		{name: "unix socket", src: "proxy / unix:/run/app.sock", want: []string{"unix:/run/app.sock"}},
		{name: "upstream lines", src: "proxy / a:1 {\n upstream b:2 c:3\n upstream d:4-5\n}", want: []string{"http://a:1", "http://b:2", "http://c:3", "http://d:4", "http://d:5"}},
		{name: "only upstream lines", src: "proxy /api {\n upstream b:2\n}", want: []string{"http://b:2"}},
		{name: "bad scheme", src: "proxy / ftp://a", wantErr: `Casketfile:1: proxy: upstream "ftp://a": unsupported scheme "ftp"`},
		{name: "quic", src: "proxy / quic://a", wantErr: "unsupported scheme"},
		{name: "bad range", src: "proxy / a:90-80", wantErr: `bad port range "90-80"`},
		{name: "huge range", src: "proxy / a:1-60000", wantErr: "larger than 1024 ports"},
		{name: "no upstream", src: "proxy /", wantErr: `no upstreams for "/"`},
		{name: "no path", src: "proxy", wantErr: "missing base path"},
		{name: "unix without path", src: "proxy / unix:", wantErr: "needs a socket path"},
		{name: "error line of upstream", src: "proxy / a:1 {\n fail_timeout 1s\n upstream a:x\n}", wantErr: "Casketfile:3: proxy:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(testutil.Dispenser(t, tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := upstreamNames(cfg); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("upstreams = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "defaults", src: "proxy / a:1", check: func(t *testing.T, c *Config) {
			if c.Policy != "random" || c.MaxFails != 1 || c.TryInterval != 250*time.Millisecond || c.KeepAlive != DefaultKeepAlive ||
				c.DialTimeout != 30*time.Second || c.HealthInterval != 30*time.Second || c.HealthTimeout != time.Minute ||
				c.FallbackDelay != 300*time.Millisecond || c.FailTimeout != 0 || c.TryDuration != 0 {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "all options", src: `proxy /api a:1 {
			policy least_conn
			fail_timeout 10s
			max_fails 3
			max_conns 100
			try_duration 5s
			try_interval 100ms
			health_check /health
			health_check_port 9000
			health_check_interval 2s
			health_check_timeout 1s
			health_check_contains OK
			fallback_delay 0
			keepalive 0
			timeout 3s
			without /api
			except /api/static /api/img
			insecure_skip_verify
			tls_client c.pem k.pem
			transparent
			websocket
			header_upstream X-A a
			header_downstream -Server
		}`, check: func(t *testing.T, c *Config) {
			if c.Policy != "least_conn" || c.FailTimeout != 10*time.Second || c.MaxFails != 3 || c.MaxConns != 100 ||
				c.TryDuration != 5*time.Second || c.TryInterval != 100*time.Millisecond || c.HealthPath != "/health" ||
				c.HealthPort != "9000" || c.HealthInterval != 2*time.Second || c.HealthTimeout != time.Second ||
				c.HealthContains != "OK" || c.FallbackDelay != 0 || c.KeepAlive != 0 || c.DialTimeout != 3*time.Second ||
				c.Without != "/api" || len(c.Except) != 2 || !c.InsecureSkipVerify || c.ClientCert != "c.pem" ||
				c.ClientKey != "k.pem" || !c.Transparent || !c.WebSocket {
				t.Errorf("config = %+v", c)
			}
			// transparent adds Host, X-Real-IP and X-Forwarded-Port before the user's rules.
			if len(c.UpstreamOps) != 4 || c.UpstreamOps[0].Name != "Host" || c.UpstreamOps[3].Name != "X-A" {
				t.Errorf("upstream ops = %+v", c.UpstreamOps)
			}
			if len(c.DownstreamOps) != 1 || c.DownstreamOps[0].Action != HeaderRemove {
				t.Errorf("downstream ops = %+v", c.DownstreamOps)
			}
		}},
		{name: "header policy", src: "proxy / a:1 {\n policy header x-user x-tenant\n}", check: func(t *testing.T, c *Config) {
			if c.Policy != "header" || strings.Join(c.Hashed, ",") != "X-User,X-Tenant" {
				t.Errorf("policy = %s %v", c.Policy, c.Hashed)
			}
		}},
		{name: "trans alias and preset keyword", src: "proxy / a:1 {\n trans\n preset websocket\n}", check: func(t *testing.T, c *Config) {
			if !c.Transparent || !c.WebSocket {
				t.Errorf("presets = %v %v", c.Transparent, c.WebSocket)
			}
		}},
		{name: "header rules", src: "proxy / a:1 {\n header_upstream +X-Add v\n header_upstream X-Re ^a(.*) b$1\n header_downstream X-Set {host}\n}",
			check: func(t *testing.T, c *Config) {
				ops := c.UpstreamOps
				if ops[0].Action != HeaderAdd || ops[1].Action != HeaderReplace || ops[1].Regexp.String() != "^a(.*)" || ops[1].Value != "b$1" {
					t.Errorf("ops = %+v", ops)
				}
				if !c.DownstreamOps[0].dynamic {
					t.Error("placeholder value not marked dynamic")
				}
			}},
		{name: "srv", src: "proxy / srv+https://_api._tcp.example.com", check: func(t *testing.T, c *Config) {
			if c.SRV == nil || c.SRV.Name != "_api._tcp.example.com" || c.SRV.Scheme != "https" {
				t.Errorf("srv = %+v", c.SRV)
			}
		}},
		{name: "srv mixed", src: "proxy / srv://_a._tcp.x b:1", wantErr: "must be the only upstream"},
		{name: "srv with health port", src: "proxy / srv://_a._tcp.x {\n health_check_port 80\n}", wantErr: "health_check_port cannot be used"},
		{name: "ca and insecure", src: "proxy / a:1 {\n ca_certificates a.pem\n insecure_skip_verify\n}", wantErr: "exclude each other"},
		{name: "unknown policy", src: "proxy / a:1 {\n policy fastest\n}", wantErr: `unknown policy "fastest"`},
		{name: "header policy without names", src: "proxy / a:1 {\n policy header\n}", wantErr: "at least one header"},
		{name: "max_fails 0", src: "proxy / a:1 {\n max_fails 0\n}", wantErr: "max_fails: want an integer >= 1"},
		{name: "bad duration", src: "proxy / a:1 {\n fail_timeout soon\n}", wantErr: `Casketfile:2: proxy: fail_timeout: invalid duration "soon"`},
		{name: "zero interval", src: "proxy / a:1 {\n health_check_interval 0\n}", wantErr: "invalid duration"},
		{name: "health path", src: "proxy / a:1 {\n health_check health\n}", wantErr: "must start with /"},
		{name: "health port", src: "proxy / a:1 {\n health_check_port 99999\n}", wantErr: "must be a port number"},
		{name: "unknown option", src: "proxy / a:1 {\n retries 3\n}", wantErr: `unknown option "retries"`},
		{name: "header value missing", src: "proxy / a:1 {\n header_upstream X-A\n}", wantErr: "header_upstream takes"},
		{name: "remove with value", src: "proxy / a:1 {\n header_upstream -X-A b\n}", wantErr: "takes no value"},
		{name: "bad regexp", src: "proxy / a:1 {\n header_downstream X-A ( b\n}", wantErr: "bad regular expression"},
		{name: "tls_client one arg", src: "proxy / a:1 {\n tls_client c.pem\n}", wantErr: "tls_client takes 2 argument(s)"},
		{name: "unknown preset", src: "proxy / a:1 {\n preset fast\n}", wantErr: `unknown preset "fast"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(testutil.Dispenser(t, tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestSetupIsPure(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, "proxy / 127.0.0.1:1 {\n health_check /h\n ca_certificates /does/not/exist.pem\n}"), nil)
	if err != nil {
		t.Fatalf("Setup read files or dialed: %v", err)
	}
	h := mw(nil).(*Handler)
	if h.ready || h.stop != nil {
		t.Error("Setup prepared the handler; that is Provision's job")
	}
	if err := h.Provision(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "reading ca_certificates") {
		t.Errorf("Provision err = %v, want the missing CA file", err)
	}
}
