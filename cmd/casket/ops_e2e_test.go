//go:build !windows

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/casketserver/casket/internal/acmetest"
)

// scrape fetches a metrics endpoint and parses it with Prometheus's own text parser.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	// Flatten to "name{label=value,...}" → value, labels sorted as the parser returns them.
	out := make(map[string]float64)
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name + "{" + strings.Join(labels, ",") + "}"
			out[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// waitFile waits until path holds want lines.
func waitFile(t *testing.T, path string, want int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), "\n") >= want {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %q, want %d lines", path, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestE2EMetricsAndHooks(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	port, mport := freePort(t), freePort(t)
	up, down := filepath.Join(dir, "up"), filepath.Join(dir, "down")
	conf := filepath.Join(dir, "Casketfile")
	body := fmt.Sprintf(`http://127.0.0.1:%s {
	root %s
	prometheus 127.0.0.1:%s
	on startup sh -c "echo up >> %s"
	on shutdown sh -c "echo down >> %s"
}
`, port, dir, mport, up, down)
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startCasket(t, nil, "127.0.0.1:"+port, "-conf", conf, "-quiet", "-log", "stderr")
	waitFile(t, up, 1)

	get := func(path string, want int) {
		t.Helper()
		resp, err := http.Get("http://127.0.0.1:" + port + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for range 3 {
		get("/", 200)
	}
	get("/missing", 404)
	get("/missing", 404)

	m := scrape(t, "http://127.0.0.1:"+mport+"/metrics")
	site := "http://127.0.0.1:" + port
	if got := m["casket_http_requests_total{code=200,method=GET,site="+site+"}"]; got != 3 {
		t.Errorf("requests 200 = %v, want 3\n%v", got, keys(m, "casket_http"))
	}
	if got := m["casket_http_requests_total{code=404,method=GET,site="+site+"}"]; got != 2 {
		t.Errorf("requests 404 = %v, want 2\n%v", got, keys(m, "casket_http"))
	}

	// A reload runs the startup commands again; counters carry over.
	p.signal(syscall.SIGUSR1)
	waitFile(t, up, 2)
	get("/", 200)
	m = scrape(t, "http://127.0.0.1:"+mport+"/metrics")
	if got := m["casket_http_requests_total{code=200,method=GET,site="+site+"}"]; got != 4 {
		t.Errorf("after reload: requests 200 = %v, want 4", got)
	}
	if b, _ := os.ReadFile(down); len(b) != 0 {
		t.Errorf("shutdown command ran before shutdown: %q", b)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if got := waitFile(t, down, 1); got != "down\n" {
		t.Errorf("shutdown file = %q", got)
	}
}

// keys lists the series of m whose name starts with prefix, for failure messages.
func keys(m map[string]float64, prefix string) string {
	var b strings.Builder
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			fmt.Fprintf(&b, "%s %v\n", k, v)
		}
	}
	return b.String()
}

func TestE2EShutdownHookFailureExits4(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "Casketfile")
	body := fmt.Sprintf("http://127.0.0.1:%s {\n\troot %s\n\ton shutdown false\n}\n", port, dir)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startCasket(t, nil, "127.0.0.1:"+port, "-conf", conf, "-quiet")
	p.signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != exitCallbacks {
		t.Fatalf("exit code %d, want %d", code, exitCallbacks)
	}
}

// readPid reads a pidfile, waiting until it names a process other than not.
func readPid(t *testing.T, path string, not int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != not {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("pidfile %s: %q, want a pid other than %d", path, b, not)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a running process (not reaped, not a zombie of ours).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) == 0 || f[0] != "Z"
}

// sumSeries adds the series of family name whose labels contain every one of labels ("k=v").
func sumSeries(m map[string]float64, name string, labels ...string) (sum float64, n int) {
	for k, v := range m {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(k, l) {
				ok = false
			}
		}
		if ok {
			sum += v
			n++
		}
	}
	return sum, n
}

func TestE2EHTTPSMetrics(t *testing.T) {
	a := newACMEEnv(t, acmetest.Options{})
	mport := freePort(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("tls"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := writeConf(t, dir, fmt.Sprintf("a.casket.test {\n\troot %s\n\tprometheus 127.0.0.1:%s\n}\n", dir, mport))
	p := a.start(conf)
	waitCert(t, "a.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	c := tlsClient(t, a.peb.Roots)
	if r := get(t, c, "https://a.casket.test:"+a.httpsPort+"/"); r.status != 200 {
		t.Fatalf("GET https: %d", r.status)
	}
	url := "http://127.0.0.1:" + mport + "/metrics"

	// The certificate's expiry is recorded once certmagic caches it; allow the background order to finish.
	deadline := time.Now().Add(20 * time.Second)
	var m map[string]float64
	for {
		m = scrape(t, url)
		if v, _ := sumSeries(m, "casket_tls_certificate_expiry_timestamp_seconds", "name=a.casket.test"); v > 0 {
			if v < float64(time.Now().Unix()) {
				t.Errorf("certificate expiry %v is in the past", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate expiry for a.casket.test:\n%s", keys(m, "casket_tls"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, _ := sumSeries(m, "casket_acme_orders_total", "result=success"); v < 1 {
		t.Errorf("successful ACME orders = %v:\n%s", v, keys(m, "casket_acme"))
	}
	if v, _ := sumSeries(m, "casket_tls_handshakes_total"); v < 1 {
		t.Errorf("TLS handshakes = %v:\n%s", v, keys(m, "casket_tls"))
	}
	if v, _ := sumSeries(m, "casket_http_requests_total", "code=200"); v < 1 {
		t.Errorf("HTTPS requests = %v:\n%s", v, keys(m, "casket_http"))
	}
	p.stop()
}

func TestE2ECertRenewHook(t *testing.T) {
	// Pebble issues 12-second certificates: after 9 seconds one is in its renewal window (the last
	// third), and the next start renews it when it loads it from storage.
	a := newACMEEnv(t, acmetest.Options{Validity: 12 * time.Second})
	dir := t.TempDir()
	renewed := filepath.Join(dir, "renewed")
	conf := writeConf(t, dir, fmt.Sprintf("a.casket.test {\n\troot %s\n\ton certrenew sh -c \"echo {cert_name} >> %s\"\n}\n", dir, renewed))
	p := a.start(conf)
	first := waitCert(t, "a.casket.test", a.httpsPort, a.peb.Roots, 60*time.Second)
	p.stop()
	if b, _ := os.ReadFile(renewed); len(b) != 0 {
		t.Fatalf("certrenew ran for a first issuance: %q", b)
	}
	time.Sleep(time.Until(first.NotBefore.Add(9 * time.Second)))

	p = a.start(conf)
	if got := waitFile(t, renewed, 1); got != "a.casket.test\n" {
		t.Errorf("certrenew output = %q", got)
	}
	p.stop()
}

func TestE2ELowFileLimitWarns(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := writeConf(t, dir, fmt.Sprintf("http://127.0.0.1:%s {\n\troot %s\n}\n", port, dir))
	// The Go runtime raises the soft limit to the hard one, so lower both, through a shell that then
	// becomes casket.
	p := newProc(t, nil, "-c", `ulimit -n 300 && exec "$0" "$@"`, casketBin, "-conf", conf, "-quiet")
	p.cmd.Path, p.cmd.Args = "/bin/sh", append([]string{"sh"}, p.cmd.Args[1:]...)
	p.start()
	p.waitListening("127.0.0.1:" + port)
	if !strings.Contains(p.stderr.String(), "the open-file limit is 300, below the 1040 recommended for 1 site(s)") {
		t.Errorf("stderr:\n%s", p.stderr)
	}
	p.signal(syscall.SIGTERM)
	p.wait(15 * time.Second)
}
