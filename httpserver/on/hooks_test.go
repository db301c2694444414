package on

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

func needSh(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
			t.Fatal("sh not found")
		}
		t.Skip("sh not found")
	}
}

func build(t *testing.T, src string) *httpserver.Instance {
	t.Helper()
	blocks, err := casketfile.Parse("Casketfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in, err := httpserver.Build(blocks, httpserver.Options{
		Directives: []httpserver.Directive{
			{Name: "bind", Setup: func(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
				s.BindHost = "127.0.0.1"
				return nil, nil
			}},
			{Name: "on", Setup: Setup},
		},
		Final: func(*httpserver.Site) httpserver.Handler {
			return httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func stop(t *testing.T, in *httpserver.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLifecycle(t *testing.T) {
	needSh(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "events")
	t.Setenv("ON_TEST_OUT", out)
	// Two sites in one block: each command runs once per event, not once per site.
	src := `a.test:0 b.test:0 {
	bind
	on startup sh -c "echo startup-{event} >> {$ON_TEST_OUT}"
	on shutdown sh -c "echo shutdown >> $0" {$ON_TEST_OUT}
	on certrenew sh -c "echo renewed-$0 >> {$ON_TEST_OUT}" {cert_name}
}`
	core, logs := observer.New(zap.InfoLevel)
	hooks := NewHooks(zap.New(core))
	pool := httpserver.NewListenerPool()
	defer pool.Close()

	first := build(t, src)
	ctx := hooks.Context(context.Background())
	if err := first.Start(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out); len(got) != 0 {
		t.Fatalf("startup ran before Started: %q", got)
	}
	if err := hooks.Started(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out); strings.Join(got, ",") != "startup-startup" {
		t.Fatalf("after start: %q, want one startup line", got)
	}
	// A reload: the new configuration starts (startup runs again) before the old one stops.
	second := build(t, src)
	ctx = hooks.Context(context.Background())
	if err := second.Start(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := hooks.Started(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hooks.Started(ctx); err != nil { // a second call runs nothing
		t.Fatal(err)
	}
	stop(t, first)
	if err := hooks.CertRenewed(context.Background(), "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := hooks.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop(t, second)
	if err := hooks.Shutdown(context.Background()); err != nil { // nothing registered any more
		t.Fatal(err)
	}
	want := "startup-startup,startup-startup,renewed-example.com,shutdown"
	if got := strings.Join(lines(t, out), ","); got != want {
		t.Errorf("events = %q, want %q", got, want)
	}
	if n := logs.FilterMessage("on: command done").Len(); n != 4 {
		t.Errorf("%d 'command done' log entries, want 4", n)
	}
}

func TestOutputAndFailureLogged(t *testing.T) {
	needSh(t)
	core, logs := observer.New(zap.InfoLevel)
	hooks := NewHooks(zap.New(core))
	c := Command{Event: Shutdown, Name: "sh", Args: []string{"-c", "echo one; echo two >&2; printf three; exit 3"}}
	err := hooks.run(context.Background(), c, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v, want exit status 3", err)
	}
	var got []string
	for _, e := range logs.FilterMessage("on: output").All() {
		got = append(got, e.ContextMap()["line"].(string))
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Errorf("output lines = %q", got)
	}
	if logs.FilterMessage("on: command failed").Len() != 1 {
		t.Error("failure not logged")
	}
	err = hooks.run(context.Background(), Command{Event: Startup, Name: "/nonexistent/cmd"}, nil)
	if err == nil {
		t.Error("a missing program did not fail")
	}
}

func TestBackgroundDoesNotWait(t *testing.T) {
	needSh(t)
	out := filepath.Join(t.TempDir(), "bg")
	hooks := NewHooks(nil)
	c := Command{Event: Startup, Name: "sh", Args: []string{"-c", "sleep 0.3; echo done > " + out}, Background: true}
	start := time.Now()
	if err := hooks.run(context.Background(), c, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("background command waited %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(lines(t, out)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("background command never finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProvisionWithoutHooks(t *testing.T) {
	h := &Handler{Command: Command{Event: Startup, Name: "true"}}
	if err := h.Provision(context.Background(), &httpserver.Site{}); err == nil {
		t.Fatal("Provision without hooks succeeded")
	}
}

func TestFailedStartRunsNoStartup(t *testing.T) {
	needSh(t)
	out := filepath.Join(t.TempDir(), "events")
	t.Setenv("ON_TEST_OUT", out)
	pool := httpserver.NewListenerPool()
	defer pool.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	hooks := NewHooks(nil)
	in := build(t, "a.test:"+port+" {\n bind\n on startup sh -c \"echo started >> {$ON_TEST_OUT}\"\n on shutdown true\n}")
	ctx := hooks.Context(context.Background())
	if err := in.Start(ctx, pool); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
	// The caller does not call Started after a failed start; the handlers were closed.
	if got := lines(t, out); len(got) != 0 {
		t.Errorf("startup ran for a configuration that did not start: %q", got)
	}
	if n := len(hooks.commands(Shutdown)); n != 0 {
		t.Errorf("%d shutdown commands still registered after the failed start", n)
	}
}
