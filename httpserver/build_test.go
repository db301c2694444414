package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/casketfile"
)

func parseBlocks(t testing.TB, src string) []casketfile.ServerBlock {
	t.Helper()
	blocks, err := casketfile.Parse("Casketfile", []byte(src))
	if err != nil {
		t.Fatalf("parsing %q: %v", src, err)
	}
	return blocks
}

// tagDirective returns a directive whose middleware appends name to the X-Order response header.
func tagDirective(name string) Directive {
	return Directive{Name: name, Setup: func(d *casketfile.Dispenser, s *Site) (Middleware, error) {
		d.Next()
		if d.NextArg() && d.Val() == "fail" {
			return nil, d.Errf("told to fail")
		}
		return func(next Handler) Handler {
			return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Add("X-Order", name)
				return next.ServeHTTP(w, r)
			})
		}, nil
	}}
}

func okFinal(s *Site) Handler {
	return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, err := w.Write([]byte("site " + s.Addr.Key() + " path " + r.URL.Path))
		return err
	})
}

func testOptions() Options {
	return Options{Directives: []Directive{tagDirective("first"), tagDirective("second")}, Final: okFinal}
}

func TestBuildDefaultsAndPorts(t *testing.T) {
	tests := []struct {
		name     string
		opts     func(*Options)
		src      string
		want     []string // Addr.String() of each site
		wantAddr []string
	}{
		{name: "default port", src: "localhost", want: []string{"http://localhost:2015"}, wantAddr: []string{":2015"}},
		{name: "-port", opts: func(o *Options) { o.Port = "8080" }, src: "localhost",
			want: []string{"http://localhost:8080"}, wantAddr: []string{":8080"}},
		{name: "-host fills host", opts: func(o *Options) { o.Host = "Example.COM" }, src: ":2015",
			want: []string{"http://example.com:2015"}, wantAddr: []string{":2015"}},
		{name: "http scheme", src: "http://a.example", want: []string{"http://a.example"}, wantAddr: []string{":80"}},
		{name: "https scheme", src: "https://a.example", want: []string{"https://a.example"}, wantAddr: []string{":443"}},
		{name: "configured http port", opts: func(o *Options) { o.HTTPPort, o.HTTPSPort = "8080", "8443" },
			src: "http://a.example {\n}\n:https {\n}", want: []string{"http://a.example:8080", "https://:8443"},
			wantAddr: []string{":8080", ":8443"}},
		{name: "path site gets default port", src: "/foo/", want: []string{"http://:2015/foo/"}, wantAddr: []string{":2015"}},
		{name: "empty label ignored", src: `"" localhost`, want: []string{"http://localhost:2015"}, wantAddr: []string{":2015"}},
		{name: "grouping by port", src: "a.example:8080 b.example:8080 c.example:9090 {\n}",
			want:     []string{"http://a.example:8080", "http://b.example:8080", "http://c.example:9090"},
			wantAddr: []string{":8080", ":9090"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			in, err := Build(parseBlocks(t, tt.src), opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range in.Sites() {
				got = append(got, s.Addr.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sites = %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(in.Addresses(), tt.wantAddr) {
				t.Errorf("Addresses() = %q, want %q", in.Addresses(), tt.wantAddr)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(*Options)
		src     string
		wantErr []string
	}{
		{name: "unknown directive", src: "localhost {\n  first\n  bogus a b\n}",
			wantErr: []string{`Casketfile:3: unknown directive "bogus"`}},
		{name: "unknown directive reported once for many labels", src: "a.example b.example {\n  bogus\n}",
			wantErr: []string{`Casketfile:2: unknown directive "bogus"`}},
		{name: "bad address", src: "https://x:80", wantErr: []string{"Casketfile:1:", "scheme and port violate convention"}},
		{name: "duplicate key", src: "example.com {\n}\nEXAMPLE.com {\n}",
			wantErr: []string{"Casketfile:3: duplicate site key: example.com"}},
		{name: "duplicate address", src: "localhost {\n}\nlocalhost:2015 {\n}",
			wantErr: []string{"Casketfile:3: duplicate site address: http://localhost:2015 (defined as localhost and localhost:2015)"}},
		{name: "duplicate because of -port", opts: func(o *Options) { o.Port = "8080" },
			src: "localhost {\n}\nlocalhost:8080 {\n}", wantErr: []string{"because of modified default host and/or port"}},
		{name: "duplicate because of -host", opts: func(o *Options) { o.Host = "example.com" },
			src: ":2015 {\n}\nexample.com:2015 {\n}", wantErr: []string{"because of modified default host and/or port"}},
		{name: "setup errors of all sites joined", src: "a.example {\n  first fail\n}\nb.example {\n  second fail\n}",
			wantErr: []string{"Casketfile:2: first: told to fail", "Casketfile:5: second: told to fail"}},
		{name: "mixing TLS and HTTP on one listener",
			opts: func(o *Options) {
				o.AssignPort = func(s *Site) string {
					if s.Addr.Host == "secure.example" {
						s.TLSConfig = &tls.Config{}
					}
					return "8443"
				}
			},
			src: "secure.example plain.example {\n}", wantErr: []string{"cannot multiplex HTTP and HTTPS on :8443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, err := Build(parseBlocks(t, tt.src), opts)
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestBuildAssignPortHook(t *testing.T) {
	var called []string
	opts := testOptions()
	opts.Directives = append(opts.Directives, Directive{Name: "mark", Setup: func(d *casketfile.Dispenser, s *Site) (Middleware, error) {
		s.Root = "marked"
		return nil, nil
	}})
	opts.AssignPort = func(s *Site) string {
		called = append(called, s.Addr.Key()+" root="+s.Root)
		if s.Addr.Host == "example.com" {
			return "443"
		}
		return ""
	}
	in, err := Build(parseBlocks(t, "example.com {\n mark\n}\nlocalhost {\n}\nhttp://a.example {\n}\nb.example:81 {\n}"), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"example.com root=marked", "localhost root=."}
	if !reflect.DeepEqual(called, want) {
		t.Errorf("AssignPort called for %q, want %q", called, want)
	}
	if got := in.Sites()[0].Addr; got.Port != "443" || got.Scheme != "https" {
		t.Errorf("example.com: port %q scheme %q, want 443 https", got.Port, got.Scheme)
	}
	if got := in.Sites()[1].Addr.Port; got != "2015" {
		t.Errorf("localhost port %q, want 2015", got)
	}

	// §4.1.1: with automatic HTTPS moving example.com to 443, all these spellings collide.
	for _, other := range []string{"example.com:443", "https://example.com", "EXAMPLE.com"} {
		_, err := Build(parseBlocks(t, "example.com {\n}\n"+other+" {\n}"), opts)
		if err == nil || !strings.Contains(err.Error(), "duplicate site") {
			t.Errorf("example.com + %s: err = %v, want a duplicate error", other, err)
		}
	}
}

func TestBuildSiteFields(t *testing.T) {
	opts := testOptions()
	opts.Root = "/srv/www"
	opts.ConfigFile = "/etc/casket/Casketfile"
	in, err := Build(parseBlocks(t, "a.example b.example {\n}"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Sites()) != 2 {
		t.Fatalf("got %d sites, want one per label", len(in.Sites()))
	}
	for _, s := range in.Sites() {
		if s.Root != "/srv/www" || s.ConfigFile != opts.ConfigFile || !reflect.DeepEqual(s.HiddenFiles, []string{opts.ConfigFile}) {
			t.Errorf("site %s: root %q config %q hidden %q", s.Addr.Key(), s.Root, s.ConfigFile, s.HiddenFiles)
		}
	}
	if in.Sites()[0] == in.Sites()[1] {
		t.Error("labels of one block share a Site")
	}
}

func TestBuildMiddlewareOrder(t *testing.T) {
	// The table order decides, not the Casketfile order; repeated directives keep source order.
	in, err := Build(parseBlocks(t, "localhost {\n second\n first\n second\n}"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := in.Sites()[0].Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Header().Values("X-Order"), []string{"first", "second", "second"}; !reflect.DeepEqual(got, want) {
		t.Errorf("X-Order = %q, want %q", got, want)
	}
	if n := len(in.Sites()[0].handlers); n != 4 {
		t.Errorf("chain has %d handlers, want 4 (final + 3)", n)
	}
}

func TestBuildIsPure(t *testing.T) {
	var provisioned bool
	opts := testOptions()
	opts.Directives = append(opts.Directives, Directive{Name: "res", Setup: func(d *casketfile.Dispenser, s *Site) (Middleware, error) {
		return func(next Handler) Handler { return &lifecycleHandler{next: next, provisioned: &provisioned} }, nil
	}})
	in, err := Build(parseBlocks(t, "127.0.0.1:1 {\n res\n}"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if provisioned {
		t.Error("Build provisioned a handler")
	}
	if got := in.Addresses(); !reflect.DeepEqual(got, []string{":1"}) {
		t.Errorf("Addresses() = %q", got)
	}
}

// lifecycleHandler records Provision and Close calls.
type lifecycleHandler struct {
	next        Handler
	provisioned *bool
	closed      *bool
	failWith    error
}

func (h *lifecycleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	return h.next.ServeHTTP(w, r)
}

func (h *lifecycleHandler) Provision(ctx context.Context, s *Site) error {
	if h.provisioned != nil {
		*h.provisioned = true
	}
	return h.failWith
}

func (h *lifecycleHandler) Close() error {
	if h.closed != nil {
		*h.closed = true
	}
	return nil
}

func TestErrorListJoinsAndDedupes(t *testing.T) {
	var l errorList
	a := errors.New("a")
	l.add(a, nil, errors.New("a"), errors.Join(errors.New("b"), errors.New("a")))
	if got := l.join().Error(); got != "a\nb" {
		t.Errorf("join = %q, want %q", got, "a\nb")
	}
}
