// Package httpapi is the small JSON-over-HTTP client the cloud DNS providers share: authentication is
// added by a callback, 429 and 5xx replies are retried with backoff (honouring Retry-After), and errors
// carry the status and the API's message but never the request's credentials.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Client talks to one API.
type Client struct {
	Provider string       // for error messages
	BaseURL  string       // without a trailing slash
	HTTP     *http.Client // nil means a client with a 30 s timeout
	// Auth adds credentials to a request about to be sent (body is the exact payload).
	Auth func(req *http.Request, body []byte) error
	// Retries is how many times a 429 or 5xx reply is retried; 0 means 4. MinWait is the first backoff
	// (doubling), 0 means 1 s; Retry-After overrides it when shorter than 30 s.
	Retries int
	MinWait time.Duration
}

// StatusError is a reply outside 2xx.
type StatusError struct {
	Provider, Method, Path string
	Status                 int
	Message                string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: %s %s: HTTP %d: %s", e.Provider, e.Method, e.Path, e.Status, e.Message)
}

// Do sends in (JSON-encoded unless nil or already []byte) to path and decodes a 2xx reply into out (if
// not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	switch v := in.(type) {
	case nil:
	case []byte:
		body = v
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("%s: encoding request: %w", c.Provider, err)
		}
	}
	retries := c.Retries
	if retries == 0 {
		retries = 4
	}
	wait := c.MinWait
	if wait == 0 {
		wait = time.Second
	}
	for attempt := 0; ; attempt++ {
		status, data, hdr, err := c.once(ctx, method, path, body)
		if err != nil {
			return err
		}
		if status/100 == 2 {
			if out == nil || len(bytes.TrimSpace(data)) == 0 {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s: %s %s: decoding reply: %w", c.Provider, method, path, err)
			}
			return nil
		}
		if (status == http.StatusTooManyRequests || status >= 500) && attempt < retries {
			d := wait
			if s, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil && s >= 0 && s < 30 {
				d = time.Duration(s) * time.Second
			}
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			wait *= 2
			continue
		}
		return &StatusError{Provider: c.Provider, Method: method, Path: pathOnly(path), Status: status, Message: message(data)}
	}
}

func (c *Client) once(ctx context.Context, method, path string, body []byte) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %w", c.Provider, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Auth != nil {
		if err := c.Auth(req, body); err != nil {
			return 0, nil, nil, fmt.Errorf("%s: %w", c.Provider, err)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %s %s: %w", c.Provider, method, pathOnly(path), unwrapURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %s %s: reading reply: %w", c.Provider, method, pathOnly(path), err)
	}
	return resp.StatusCode, data, resp.Header, nil
}

// message extracts a short human message from an error body.
func message(data []byte) string {
	var m map[string]any
	if json.Unmarshal(data, &m) == nil {
		for _, k := range []string{"message", "error", "cause", "errors", "title"} {
			if v, ok := m[k]; ok {
				b, _ := json.Marshal(v)
				return truncate(string(b))
			}
		}
	}
	return truncate(string(bytes.TrimSpace(data)))
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// pathOnly drops the query string (which some APIs use for credentials).
func pathOnly(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			return p[:i]
		}
	}
	return p
}

// unwrapURL drops the *url.Error wrapper, whose text repeats the full URL (query included).
func unwrapURL(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}
