package googlecloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The JSON shapes of Cloud DNS API v1 used here.

type rrSet struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int64    `json:"ttl,omitempty"`
	Rrdatas []string `json:"rrdatas,omitempty"`
	Kind    string   `json:"kind,omitempty"`
}

type changeBody struct {
	Additions []*rrSet `json:"additions,omitempty"`
	Deletions []*rrSet `json:"deletions,omitempty"`
	ID        string   `json:"id,omitempty"`
	Status    string   `json:"status,omitempty"`
}

type managedZone struct {
	Name       string `json:"name"`
	DNSName    string `json:"dnsName"`
	Visibility string `json:"visibility"`
}

// apiError is a Cloud DNS error reply.
type apiError struct {
	Status  int
	Message string
	Reason  string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

const scope = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"

// path builds dns/v1/projects/{project}/managedZones[/{zone}[/rest...]].
func (p *Provider) path(zone string, rest ...string) string {
	s := "dns/v1/projects/" + url.PathEscape(p.Project) + "/managedZones"
	if zone != "" {
		s += "/" + url.PathEscape(zone)
	}
	for _, r := range rest {
		s += "/" + url.PathEscape(r)
	}
	return s
}

// do calls the API (retrying 429 and 5xx replies up to 4 times) and decodes the reply into out.
func (p *Provider) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("alt", "json")
	q.Set("prettyPrint", "false")
	base := p.Endpoint
	if base == "" {
		base = "https://dns.googleapis.com/"
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u := base + path + "?" + q.Encode()
	wait := p.MinWait
	if wait == 0 {
		wait = time.Second
	}
	for attempt := 0; ; attempt++ {
		err := p.send(ctx, method, u, body, out)
		var ae *apiError
		if errors.As(err, &ae) && (ae.Status == 429 || ae.Status >= 500) && attempt < 4 {
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			wait *= 2
			continue
		}
		return err
	}
}

func (p *Provider) send(ctx context.Context, method, u string, body []byte, out any) error {
	src, err := p.tokens()
	if err != nil {
		return err
	}
	tok, err := src.Token(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return errors.New("bad API endpoint URL")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading reply: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Status  string `json:"status"`
				Errors  []struct {
					Reason string `json:"reason"`
				} `json:"errors"`
			} `json:"error"`
		}
		ae := &apiError{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			ae.Message, ae.Reason = e.Error.Message, e.Error.Status
			if len(e.Error.Errors) > 0 && e.Error.Errors[0].Reason != "" {
				ae.Reason = e.Error.Errors[0].Reason
			}
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding reply: %w", err)
	}
	return nil
}

func (p *Provider) client() *http.Client {
	if p.HTTP != nil {
		return p.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}
