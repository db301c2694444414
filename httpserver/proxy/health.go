package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxHealthBody is how much of a health check response is searched for health_check_contains.
const maxHealthBody = 1 << 20

// healthLoop checks every upstream right away and then every health_check_interval until ctx ends.
func (h *Handler) healthLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	clients := make([]*http.Client, len(h.Config.Upstreams))
	for i, u := range h.Config.Upstreams {
		tr := u.transport
		if h.Config.HealthPort != "" && u.Network == "tcp" {
			host, _, _ := net.SplitHostPort(u.Address)
			tr = newTransport(h.Config, "tcp", net.JoinHostPort(host, h.Config.HealthPort), h.tlsConfig)
			defer tr.CloseIdleConnections()
		}
		clients[i] = &http.Client{
			Transport:     tr,
			Timeout:       h.Config.HealthTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	t := time.NewTicker(h.Config.HealthInterval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for i, u := range h.Config.Upstreams {
			wg.Go(func() {
				if healthy := h.check(ctx, clients[i], u); healthy {
					u.unhealthy.Store(false)
					u.fails.Store(0)
				} else if ctx.Err() == nil {
					u.unhealthy.Store(true)
				}
			})
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check runs one health check: a GET of health_check on the upstream that answers 200–399 and, with
// health_check_contains, has that text in its body.
func (h *Handler) check(ctx context.Context, c *http.Client, u *Upstream) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+h.Config.HealthPath, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "casket-health-check")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHealthBody))
		return false
	}
	if h.Config.HealthContains == "" {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHealthBody))
		return true
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	return err == nil && bytes.Contains(body, []byte(h.Config.HealthContains))
}
