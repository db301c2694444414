package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkProxy1KiB measures proxied 1 KiB responses through a real server (client → Casket → Go
// backend, keep-alive on both hops). Compare with nginx using ../shared/bench/run-anchors.sh.
func BenchmarkProxy1KiB(b *testing.B) {
	payload := strings.Repeat("x", 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, payload)
	}))
	defer backend.Close()
	base, stop := benchSite(b, "proxy /proxy "+backend.Listener.Addr().String()+" {\n keepalive 128\n}")
	defer stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(base + "/proxy/1k")
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n != 1024 {
				b.Errorf("got %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
}
