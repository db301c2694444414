package httpserver

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		label                    string
		scheme, host, port, path string
		key                      string
		wantErr                  string
	}{
		// features.md §3 "Addresses"
		{label: ":2015", port: "2015", key: ":2015"},
		{label: ":8080", port: "8080", key: ":8080"},
		{label: "localhost", host: "localhost", key: "localhost"},
		{label: "localhost:8080", host: "localhost", port: "8080", key: "localhost:8080"},
		{label: "example.com", host: "example.com", key: "example.com"},
		{label: "http://example.com", scheme: "http", host: "example.com", port: "80", key: "http://example.com"},
		{label: "https://example.com", scheme: "https", host: "example.com", port: "443", key: "https://example.com"},
		{label: "http://example.com:1234", scheme: "http", host: "example.com", port: "1234", key: "http://example.com:1234"},
		{label: "example.com:8443", host: "example.com", port: "8443", key: "example.com:8443"},
		{label: "https://x:80", wantErr: "scheme and port violate convention"},
		{label: "http://x:443", wantErr: "scheme and port violate convention"},
		{label: ":http", scheme: "http", port: "80", key: ":80"},
		{label: ":https", scheme: "https", port: "443", key: ":443"},
		{label: "*", host: "*", key: "*"},
		{label: "*.example.com", host: "*.example.com", key: "*.example.com"},
		{label: "*.*.example.com", host: "*.*.example.com", key: "*.*.example.com"},
		{label: "foo*.example.com", host: "foo*.example.com", key: "foo*.example.com"},
		{label: "sub.*.example.com", host: "sub.*.example.com", key: "sub.*.example.com"},
		{label: "example.com/foo/", host: "example.com", path: "/foo/", key: "example.com/foo/"},
		{label: "/foo/", path: "/foo/", key: "/foo/"},
		{label: "[::1]:8080", host: "::1", port: "8080", key: "[::1]:8080"},
		{label: "10.0.0.1", host: "10.0.0.1", key: "10.0.0.1"},
		// features.md §4.1
		{label: "EXAMPLE.com", host: "example.com", key: "example.com"},
		{label: "example.com:443", scheme: "https", host: "example.com", port: "443", key: "example.com:443"},
		{label: "example.com:80", scheme: "http", host: "example.com", port: "80", key: "example.com:80"},
		{label: "HTTPS://Example.COM", scheme: "https", host: "example.com", port: "443", key: "https://example.com"},
		{label: "[0:0:0:0:0:0:0:1]", host: "::1", key: "[::1]"},
		{label: "[0:0:0:0:0:0:0:1]:2015", host: "::1", port: "2015", key: "[::1]:2015"},
		{label: "::1", wantErr: "brackets"},
		{label: "::1:8080", wantErr: "brackets"},
		{label: "[::1", wantErr: "missing ']'"},
		{label: "[::1]x", wantErr: "unexpected"},
		{label: "[example.com]:80", wantErr: "invalid IPv6"},
		{label: "example.com/Foo/Bar", host: "example.com", path: "/foo/bar", key: "example.com/foo/bar"},
		{label: "example.com/", host: "example.com", key: "example.com"},
		{label: "example.com:", host: "example.com", key: "example.com"},
		{label: "http://", scheme: "http", port: "80", key: "http://"},
		{label: "https://:8443", scheme: "https", port: "8443", key: "https://:8443"},
		{label: "example.com:HTTPS", scheme: "https", host: "example.com", port: "443", key: "example.com:443"},
		{label: "example.com:08080", host: "example.com", port: "8080", key: "example.com:8080"},
		{label: "", wantErr: "empty"},
		{label: "ftp://example.com", wantErr: "unsupported scheme"},
		{label: "example.com:99999", wantErr: "invalid port"},
		{label: "example.com:-1", wantErr: "invalid port"},
		{label: "example.com:abc", wantErr: "invalid port"},
		{label: "exa mple.com", wantErr: "invalid character"},
		{label: "user@example.com", wantErr: "invalid character"},
		{label: "example.com/a?b", wantErr: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			a, err := ParseAddress(tt.label)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAddress(%q) = %+v, %v; want error containing %q", tt.label, a, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tt.label, err)
			}
			if a.Scheme != tt.scheme || a.Host != tt.host || a.Port != tt.port || a.Path != tt.path {
				t.Errorf("ParseAddress(%q) = scheme %q host %q port %q path %q; want %q %q %q %q",
					tt.label, a.Scheme, a.Host, a.Port, a.Path, tt.scheme, tt.host, tt.port, tt.path)
			}
			if a.Key() != tt.key {
				t.Errorf("Key() = %q, want %q", a.Key(), tt.key)
			}
			if a.Original != tt.label {
				t.Errorf("Original = %q, want %q", a.Original, tt.label)
			}
		})
	}
}

func TestParseAddressPortsConfigured(t *testing.T) {
	tests := []struct {
		label   string
		port    string
		scheme  string
		wantErr bool
	}{
		{label: "http://x:8080", port: "8080", scheme: "http"},
		{label: "https://x:8080", wantErr: true},
		{label: "https://x:80", port: "80", scheme: "https"}, // 80 is not the HTTP port here
		{label: "http://x:8443", wantErr: true},
		{label: ":http", port: "8080", scheme: "http"},
		{label: ":https", port: "8443", scheme: "https"},
		{label: "x:8443", port: "8443", scheme: "https"},
		{label: "http://x", port: "8080", scheme: "http"},
		{label: "https://x", port: "8443", scheme: "https"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			a, err := ParseAddressPorts(tt.label, "8080", "8443")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want error", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Port != tt.port || a.Scheme != tt.scheme {
				t.Errorf("got port %q scheme %q, want %q %q", a.Port, a.Scheme, tt.port, tt.scheme)
			}
		})
	}
}

func TestParseAddressCaseSensitivePath(t *testing.T) {
	old := CaseSensitivePath
	CaseSensitivePath = true
	defer func() { CaseSensitivePath = old }()
	a, err := ParseAddress("example.com/Foo")
	if err != nil {
		t.Fatal(err)
	}
	if a.Path != "/Foo" || a.Key() != "example.com/Foo" {
		t.Errorf("path %q key %q; want the case kept", a.Path, a.Key())
	}
}

func TestAddressString(t *testing.T) {
	tests := []struct{ label, want string }{
		{"example.com:2015", "http://example.com:2015"},
		{"https://example.com", "https://example.com"},
		{"http://example.com", "http://example.com"},
		{"[::1]:8080", "http://[::1]:8080"},
		{"example.com:443/api", "https://example.com/api"},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.label)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.String(); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.label, got, tt.want)
		}
	}
}

func FuzzAddress(f *testing.F) {
	for _, s := range []string{":2015", "example.com", "https://x:80", "[::1]:8080", "*.example.com/foo", ":http",
		"http://", "/foo/", "10.0.0.1", "EXAMPLE.com:443", "[fe80::1%eth0]:80", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		a, err := ParseAddress(label)
		if err != nil {
			return
		}
		// The key is itself a label that parses to the same address.
		b, err := ParseAddress(a.Key())
		if err != nil {
			t.Fatalf("key %q of %q does not parse: %v", a.Key(), label, err)
		}
		if b.Key() != a.Key() || b.Host != a.Host || b.Port != a.Port || b.Path != a.Path || b.Scheme != a.Scheme {
			t.Fatalf("reparsing key %q of %q: got %+v, want %+v", a.Key(), label, b, a)
		}
		if a.Path != "" && a.Path[0] != '/' {
			t.Fatalf("path %q does not start with /", a.Path)
		}
	})
}
