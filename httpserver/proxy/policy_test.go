package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func threeBackends(t *testing.T) []*backend {
	return []*backend{newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)}
}

func proxyLine(bs []*backend, opts string) string {
	addrs := make([]string, len(bs))
	for i, b := range bs {
		addrs[i] = b.addr()
	}
	return "proxy / " + strings.Join(addrs, " ") + " {\n" + opts + "\n}"
}

func TestPolicies(t *testing.T) {
	c := &http.Client{}
	t.Run("random spreads", func(t *testing.T) {
		bs := threeBackends(t)
		base, _ := site(t, proxyLine(bs, ""))
		seen := map[string]int{}
		for i := 0; i < 90; i++ {
			_, body, _ := get(t, c, base+"/")
			seen[body]++
		}
		if len(seen) != 3 {
			t.Errorf("random reached %v, want all three", seen)
		}
	})
	t.Run("round_robin cycles", func(t *testing.T) {
		bs := threeBackends(t)
		base, _ := site(t, proxyLine(bs, "policy round_robin"))
		var got []string
		for i := 0; i < 6; i++ {
			_, body, _ := get(t, c, base+"/")
			got = append(got, body)
		}
		if got[0] == got[1] || got[1] == got[2] || got[0] == got[2] || got[0] != got[3] || got[1] != got[4] || got[2] != got[5] {
			t.Errorf("round_robin order = %v", got)
		}
	})
	t.Run("first", func(t *testing.T) {
		bs := threeBackends(t)
		base, _ := site(t, proxyLine(bs, "policy first"))
		for i := 0; i < 5; i++ {
			if _, body, _ := get(t, c, base+"/"); body != "a" {
				t.Fatalf("first went to %q", body)
			}
		}
	})
	t.Run("first skips a down upstream", func(t *testing.T) {
		bs := threeBackends(t)
		base, _ := site(t, "proxy / "+deadAddr(t)+" "+bs[1].addr()+" {\n policy first\n fail_timeout 1m\n try_duration 1s\n try_interval 0\n}")
		for i := 0; i < 5; i++ {
			if status, body, _ := get(t, c, base+"/"); status != 200 || body != "b" {
				t.Fatalf("got %d %q, want b", status, body)
			}
		}
	})
	t.Run("least_conn avoids the busy upstream", func(t *testing.T) {
		release := make(chan struct{})
		busy := newBackend(t, "busy", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				<-release
			}
			fmt.Fprint(w, "busy")
		})
		idle := newBackend(t, "idle", nil)
		base, in := site(t, "proxy / "+busy.addr()+" "+idle.addr()+" {\n policy least_conn\n}")
		h := proxyHandler(t, in)
		var wg sync.WaitGroup
		// Hold requests on /slow until "busy" has one in flight and "idle" none.
		for i := 0; i < 4; i++ {
			wg.Go(func() { get(t, c, base+"/slow") })
		}
		waitFor(t, "a slow request on busy", 5*time.Second, func() bool { return h.Config.Upstreams[0].Conns() >= 1 })
		for i := 0; i < 10; i++ {
			if h.Config.Upstreams[0].Conns() > h.Config.Upstreams[1].Conns() {
				if _, body, _ := get(t, c, base+"/fast"); body != "idle" {
					t.Errorf("least_conn sent a request to %q while it had more in flight", body)
				}
			}
		}
		close(release)
		wg.Wait()
	})
	t.Run("ip_hash sticks", func(t *testing.T) {
		bs := threeBackends(t)
		base, _ := site(t, proxyLine(bs, "policy ip_hash"))
		_, want, _ := get(t, c, base+"/")
		for i := 0; i < 20; i++ {
			if _, body, _ := get(t, c, base+fmt.Sprintf("/%d", i)); body != want {
				t.Fatalf("ip_hash moved the client from %q to %q", want, body)
			}
		}
	})
	t.Run("uri_hash sticks per URI and spreads", func(t *testing.T) {
		bs := threeBackends(t)
		base, _ := site(t, proxyLine(bs, "policy uri_hash"))
		seen := map[string]bool{}
		for i := 0; i < 30; i++ {
			uri := fmt.Sprintf("/item/%d", i)
			_, first, _ := get(t, c, base+uri)
			_, again, _ := get(t, c, base+uri)
			if first != again {
				t.Fatalf("%s went to %q then %q", uri, first, again)
			}
			seen[first] = true
		}
		if len(seen) < 2 {
			t.Errorf("uri_hash used only %v", seen)
		}
	})
	t.Run("header hashes one or more fields", func(t *testing.T) {
		bs := threeBackends(t)
		base, _ := site(t, proxyLine(bs, "policy header X-User X-Tenant"))
		seen := map[string]bool{}
		for i := 0; i < 30; i++ {
			user := fmt.Sprintf("user%d", i)
			_, first, _ := get(t, c, base+"/", "X-User", user, "X-Tenant", "t")
			_, again, _ := get(t, c, base+"/other", "X-User", user, "X-Tenant", "t")
			if first != again {
				t.Fatalf("%s went to %q then %q", user, first, again)
			}
			seen[first] = true
		}
		if len(seen) < 2 {
			t.Errorf("header policy used only %v", seen)
		}
		if status, _, _ := get(t, c, base+"/"); status != 200 {
			t.Errorf("request without the header: %d, want 200 (placed at random)", status)
		}
	})
	t.Run("hash passes a down upstream's share on", func(t *testing.T) {
		dead := deadAddr(t)
		live := newBackend(t, "live", nil)
		base, _ := site(t, "proxy / "+dead+" "+live.addr()+" {\n policy uri_hash\n fail_timeout 1m\n try_duration 1s\n try_interval 0\n}")
		for i := 0; i < 10; i++ {
			if status, body, _ := get(t, c, base+fmt.Sprintf("/%d", i)); status != 200 || body != "live" {
				t.Fatalf("got %d %q", status, body)
			}
		}
	})
}
