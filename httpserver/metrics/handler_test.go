package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/bind"
	"github.com/casketserver/casket/httpserver/fileserver"
	imetrics "github.com/casketserver/casket/internal/metrics"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start builds src with the root, bind and prometheus directives and the static file server, and
// starts it on pool with reg in the context.
func start(t *testing.T, pool *httpserver.ListenerPool, reg *imetrics.Registry, src string) *httpserver.Instance {
	t.Helper()
	blocks, err := casketfile.Parse("Casketfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in, err := httpserver.Build(blocks, httpserver.Options{
		Directives: []httpserver.Directive{
			{Name: "root", Setup: fileserver.SetupRoot},
			{Name: "bind", Setup: bind.Setup},
			{Name: "prometheus", Setup: Setup},
		},
		Final: fileserver.New,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(imetrics.NewContext(context.Background(), reg), pool); err != nil {
		t.Fatal(err)
	}
	return in
}

func stop(t *testing.T, in *httpserver.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// counter returns casket_http_requests_total for the labels, or -1 when the series does not exist.
func counter(fams map[string]*dto.MetricFamily, site, code, method string) float64 {
	for _, m := range fams["casket_http_requests_total"].GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if l["site"] == site && l["code"] == code && l["method"] == method {
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

func TestServedAndScraped(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	siteAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(siteAddr)
	src := "http://a.test:" + port + " {\n bind 127.0.0.1\n root " + root + "\n prometheus " + metricsAddr + "\n}\n" +
		"http://b.test:" + port + " {\n bind 127.0.0.1\n root " + root + "\n prometheus " + metricsAddr + " {\n hostname bee\n }\n}\n"
	pool := httpserver.NewListenerPool()
	defer pool.Close()
	reg := imetrics.New(nil)
	first := start(t, pool, reg, src)

	do := func(host, method, path string) {
		req, _ := http.NewRequest(method, "http://"+siteAddr+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for range 3 {
		do("a.test", "GET", "/")
	}
	do("a.test", "GET", "/missing")
	do("a.test", "HEAD", "/index.html")
	do("b.test", "GET", "/")

	// A reload: the new configuration shares the endpoint and the counters.
	second := start(t, pool, reg, src)
	stop(t, first)
	do("a.test", "GET", "/")

	fams := scrape(t, "http://"+metricsAddr+"/metrics")
	aSite := "http://a.test:" + port
	tests := []struct {
		name, site, code, method string
		want                     float64
	}{
		{"index", aSite, "200", "GET", 4},
		{"not found", aSite, "404", "GET", 1},
		{"head", aSite, "200", "HEAD", 1},
		{"hostname label", "bee", "200", "GET", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := counter(fams, tt.site, tt.code, tt.method); got != tt.want {
				t.Errorf("requests{site=%q,code=%s,method=%s} = %v, want %v", tt.site, tt.code, tt.method, got, tt.want)
			}
		})
	}
	stop(t, second)
	if _, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		t.Error("metrics endpoint still open after the last configuration stopped")
	}
}

func TestErrorStatusCounted(t *testing.T) {
	reg := imetrics.New(nil)
	h := New(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return httpserver.Error(http.StatusForbidden, errors.New("no"))
	}), Config{Address: freeAddr(t), Path: "/metrics", Site: "s"})
	site := &httpserver.Site{}
	if err := h.Provision(imetrics.NewContext(context.Background(), reg), site); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_ = h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
	fams := scrape(t, "http://"+h.Config.Address+"/metrics")
	if got := counter(fams, "s", "403", "POST"); got != 1 {
		t.Errorf("403 POST = %v, want 1", got)
	}
}

func TestUseSiteAddress(t *testing.T) {
	reg := imetrics.New(nil)
	h := New(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, err := w.Write([]byte("page"))
		return err
	}), Config{Address: DefaultAddress, Path: "/stats", Site: "s", UseSiteAdr: true})
	if err := h.Provision(imetrics.NewContext(context.Background(), reg), &httpserver.Site{}); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = h.ServeHTTP(w, r) }))
	defer srv.Close()
	get(t, srv.URL+"/page")
	if got := counter(scrape(t, srv.URL+"/stats"), "s", "200", "GET"); got != 1 {
		t.Errorf("requests = %v, want 1", got)
	}
}

func TestProvisionWithoutRegistry(t *testing.T) {
	h := New(nil, Config{Address: DefaultAddress, Path: DefaultPath})
	if err := h.Provision(context.Background(), &httpserver.Site{}); err == nil {
		t.Fatal("Provision without a registry succeeded")
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	reg := imetrics.New(nil)
	h := New(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}), Config{Site: "s", UseSiteAdr: true, Path: "/metrics"})
	if err := h.Provision(imetrics.NewContext(context.Background(), reg), &httpserver.Site{}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	info := httpserver.InfoFrom(req)
	info.Recorder = httpserver.NewResponseRecorder(httptest.NewRecorder())
	r := httpserver.WithRequestInfo(req, info)
	b.ReportAllocs()
	for b.Loop() { // the server prepares the request and recorder; the handler itself allocates nothing
		_ = h.ServeHTTP(info.Recorder, r)
	}
}

func TestServeHTTPAllocatesNothing(t *testing.T) {
	reg := imetrics.New(nil)
	h := New(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}), Config{Site: "s", UseSiteAdr: true, Path: "/metrics"})
	if err := h.Provision(imetrics.NewContext(context.Background(), reg), &httpserver.Site{}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	info := httpserver.InfoFrom(req)
	info.Recorder = httpserver.NewResponseRecorder(httptest.NewRecorder())
	r := httpserver.WithRequestInfo(req, info)
	_ = h.ServeHTTP(info.Recorder, r) // creates the series
	if n := testing.AllocsPerRun(200, func() { _ = h.ServeHTTP(info.Recorder, r) }); n != 0 {
		t.Errorf("allocations per request = %v, want 0", n)
	}
}
