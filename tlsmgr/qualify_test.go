package tlsmgr

import "testing"

func TestQualifies(t *testing.T) {
	tests := []struct {
		name               string
		host, port, scheme string
		p                  *Policy
		httpPort           string
		want               bool
	}{
		{name: "plain name", host: "example.com", want: true},
		{name: "upper case", host: "EXAMPLE.com", want: true},
		{name: "reserved TLD test", host: "a.casket.test", want: true},
		{name: "reserved TLD example", host: "www.example", want: true},
		{name: "https port", host: "example.com", port: "443", want: true},
		{name: "other port", host: "example.com", port: "8443", want: true},
		{name: "https scheme", host: "example.com", scheme: "https", want: true},
		{name: "wildcard left-most", host: "*.example.com", want: true},
		{name: "empty host", host: "", want: false},
		{name: "blank host", host: "  ", want: false},
		{name: "localhost", host: "localhost", want: false},
		{name: "LOCALHOST", host: "LocalHost", want: false},
		{name: "ipv4", host: "127.0.0.1", want: false},
		{name: "public ipv4", host: "8.8.8.8", want: false},
		{name: "ipv6 bracketed", host: "[::1]", want: false},
		{name: "ipv6 bare", host: "::1", want: false},
		{name: "wildcard in middle", host: "sub.*.example.com", want: false},
		{name: "partial wildcard", host: "foo*.example.com", want: false},
		{name: "lone wildcard", host: "*", want: false},
		{name: "two wildcards", host: "*.*", want: false},
		{name: "two wildcards deep", host: "*.*.example.com", want: false},
		{name: "trailing dot", host: "example.com.", want: false},
		{name: "leading dot", host: ".example.com", want: false},
		{name: "port 80", host: "example.com", port: "80", want: false},
		{name: "custom http port", host: "example.com", port: "8080", httpPort: "8080", want: false},
		{name: "port 80 with custom http port", host: "example.com", port: "80", httpPort: "8080", want: false},
		{name: "http scheme", host: "example.com", scheme: "http", want: false},
		{name: "HTTP scheme", host: "example.com", scheme: "HTTP", want: false},
		{name: "tls off", host: "example.com", p: &Policy{Off: true}, want: false},
		{name: "self signed", host: "example.com", p: &Policy{SelfSigned: true}, want: false},
		{name: "manual cert", host: "example.com", p: &Policy{Manual: []CertFile{{"c", "k"}}}, want: false},
		{name: "load dir", host: "example.com", p: &Policy{LoadDirs: []string{"d"}}, want: false},
		{name: "manual cert with on-demand", host: "example.com", p: &Policy{Manual: []CertFile{{"c", "k"}}, Ask: "http://x/"}, want: true},
		{name: "email only", host: "example.com", p: &Policy{Email: "a@b.c"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Qualifies(tt.host, tt.port, tt.scheme, tt.p, tt.httpPort); got != tt.want {
				t.Errorf("Qualifies(%q, %q, %q, %+v, %q) = %v, want %v", tt.host, tt.port, tt.scheme, tt.p, tt.httpPort, got, tt.want)
			}
		})
	}
}
