package httpserver

import "testing"

func sitesFor(t testing.TB, labels ...string) []*Site {
	t.Helper()
	var sites []*Site
	for _, l := range labels {
		a, err := ParseAddress(l)
		if err != nil {
			t.Fatalf("ParseAddress(%q): %v", l, err)
		}
		sites = append(sites, &Site{Addr: a})
	}
	return sites
}

func TestVhostMatch(t *testing.T) {
	tests := []struct {
		name   string
		labels []string
		host   string
		path   string
		want   string // Key of the matched site, "" for none
	}{
		{name: "exact", labels: []string{"a.example", "b.example"}, host: "b.example", path: "/", want: "b.example"},
		{name: "port ignored", labels: []string{"a.example:8080"}, host: "a.example:8080", path: "/", want: "a.example:8080"},
		{name: "case and trailing dot", labels: []string{"a.example"}, host: "A.Example.", path: "/", want: "a.example"},
		{name: "no match", labels: []string{"a.example"}, host: "b.example", path: "/", want: ""},
		{name: "wildcard", labels: []string{"*.example.com"}, host: "www.example.com", path: "/", want: "*.example.com"},
		{name: "wildcard one label only", labels: []string{"*.example.com"}, host: "a.b.example.com", path: "/", want: ""},
		{name: "double wildcard", labels: []string{"*.*.example.com"}, host: "a.b.example.com", path: "/", want: "*.*.example.com"},
		{name: "exact beats wildcard", labels: []string{"*.example.com", "www.example.com"}, host: "www.example.com", path: "/",
			want: "www.example.com"},
		{name: "single star matches one-label names", labels: []string{"*"}, host: "localhost", path: "/", want: "*"},
		{name: "single star misses dotted names", labels: []string{"*"}, host: "a.example", path: "/", want: ""},
		{name: "non-leftmost wildcard is literal", labels: []string{"sub.*.example.com"}, host: "sub.x.example.com", path: "/", want: ""},
		{name: "catch-all empty", labels: []string{"a.example", ":2015"}, host: "other.example", path: "/", want: ":2015"},
		{name: "catch-all 0.0.0.0 first", labels: []string{":2015", "0.0.0.0:2015"}, host: "x", path: "/", want: "0.0.0.0:2015"},
		{name: "catch-all [::]", labels: []string{"[::]:2015"}, host: "x", path: "/", want: "[::]:2015"},
		{name: "wildcard beats catch-all", labels: []string{":2015", "*.example.com"}, host: "a.example.com", path: "/", want: "*.example.com"},
		{name: "ipv6 host", labels: []string{"[::1]:2015"}, host: "[0:0::1]:2015", path: "/", want: "[::1]:2015"},
		{name: "ipv4 host", labels: []string{"127.0.0.1:2015"}, host: "127.0.0.1:2015", path: "/x", want: "127.0.0.1:2015"},
		{name: "empty host header", labels: []string{"a.example", ":2015"}, host: "", path: "/", want: ":2015"},
		{name: "longest path", labels: []string{"a.example", "a.example/api", "a.example/api/v2"}, host: "a.example",
			path: "/api/v2/x", want: "a.example/api/v2"},
		{name: "character prefix", labels: []string{"a.example", "a.example/foo"}, host: "a.example", path: "/foobar",
			want: "a.example/foo"},
		{name: "trailing slash base", labels: []string{"a.example", "a.example/foo/"}, host: "a.example", path: "/foobar",
			want: "a.example"},
		{name: "path case-insensitive", labels: []string{"a.example/foo"}, host: "a.example", path: "/FOO/x", want: "a.example/foo"},
		{name: "path miss falls through to catch-all", labels: []string{"a.example/api", "/"}, host: "a.example", path: "/web",
			want: "/"},
		{name: "path miss everywhere", labels: []string{"a.example/api"}, host: "a.example", path: "/web", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt := newVhostTable(sitesFor(t, tt.labels...))
			got := vt.match(requestHost(tt.host), tt.path)
			var key string
			if got != nil {
				key = got.Addr.Key()
			}
			if key != tt.want {
				t.Errorf("match(%q, %q) = %q, want %q", tt.host, tt.path, key, tt.want)
			}
		})
	}
}

func TestWildcardKey(t *testing.T) {
	tests := []struct {
		host   string
		want   wildKey
		wantOK bool
	}{
		{"*", wildKey{1, ""}, true},
		{"*.*", wildKey{2, ""}, true},
		{"*.example.com", wildKey{1, ".example.com"}, true},
		{"*.*.example.com", wildKey{2, ".example.com"}, true},
		{"example.com", wildKey{}, false},
		{"foo*.example.com", wildKey{}, false},
		{"*.foo*.com", wildKey{}, false},
		{"sub.*.example.com", wildKey{}, false},
		{"*..com", wildKey{}, false},
		{"", wildKey{}, false},
	}
	for _, tt := range tests {
		got, ok := wildcardKey(tt.host)
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("wildcardKey(%q) = %+v, %v; want %+v, %v", tt.host, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRequestHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM:8080", "example.com"},
		{"example.com.", "example.com"},
		{"[::1]:80", "::1"},
		{"[0:0::1]", "::1"},
		{"127.0.0.1:2015", "127.0.0.1"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := requestHost(tt.in); got != tt.want {
			t.Errorf("requestHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestVhostMatchDoesNotAllocate(t *testing.T) {
	vt := newVhostTable(sitesFor(t, "a.example", "*.example.com", "a.example/api", ":2015"))
	allocs := testing.AllocsPerRun(100, func() {
		_ = vt.match(requestHost("www.example.com:443"), "/x")
		_ = vt.match(requestHost("a.example"), "/api/x")
		_ = vt.match(requestHost("nothing.test"), "/")
	})
	if allocs != 0 {
		t.Errorf("match allocates %.1f times per run, want 0", allocs)
	}
}
