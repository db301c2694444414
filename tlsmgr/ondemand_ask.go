package tlsmgr

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// askAllowed asks the group's `ask` endpoint whether name may get a certificate: GET URL?domain=NAME&ip=IP
// (ip is the client's address, omitted when unknown). Only a 200 answer allows it; any other status
// (redirects are not followed), a timeout or an unreachable endpoint denies it.
func (g *odGroup) askAllowed(ctx context.Context, name, ip string) error {
	u := *g.ask
	q := u.Query()
	q.Set("domain", name)
	if ip != "" {
		q.Set("ip", ip)
	}
	u.RawQuery = q.Encode()
	timeout := g.od.askTimeout
	if timeout <= 0 {
		timeout = defaultAskTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("ask: building the request: %w", err)
	}
	resp, err := g.od.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ask: %s gave no answer within %v", g.ask.Redacted(), timeout)
		}
		return fmt.Errorf("ask: %s unreachable: %w", g.ask.Redacted(), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ask: %s answered %d, not 200", g.ask.Redacted(), resp.StatusCode)
	}
	return nil
}

// newAskClient returns the HTTP client for `ask` requests: it does not follow redirects (a 3xx answer is
// not 200, so it denies).
func newAskClient() *http.Client {
	return &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
