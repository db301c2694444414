package metrics

import (
	"net"
	"net/http"
	"testing"
)

func TestInheritedSocketIsServedAndHandedOver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := New(nil)
	r.Inherit("metrics.test:1", ln)
	r.Inherit("gone.test:1", unused)
	lease, err := r.Serve("metrics.test:1", "/metrics") // no such host: only the inherited socket works
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	if lease.Addr().String() != ln.Addr().String() {
		t.Fatalf("served on %v, want the inherited %v", lease.Addr(), ln.Addr())
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if got := r.Listeners()["metrics.test:1"]; got != ln {
		t.Errorf("Listeners() = %v, want the serving socket", got)
	}
	r.CloseInherited()
	if _, err := unused.Accept(); err == nil {
		t.Error("unused inherited socket still open after CloseInherited")
	}
}
