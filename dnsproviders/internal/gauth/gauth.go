// Package gauth gets OAuth 2.0 access tokens for Google APIs with the standard library: from a service
// account key (a JWT signed with RS256 exchanged at the key's token_uri), from a gcloud user credential
// (a refresh token), or from the GCE metadata server, found the way Application Default Credentials are
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known file, the metadata server). Tokens are cached
// until a minute before they expire. Errors never contain keys or tokens.
package gauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultTokenURI is Google's OAuth 2.0 token endpoint.
const DefaultTokenURI = "https://oauth2.googleapis.com/token"

// Source hands out access tokens, fetching a new one when the cached one is about to expire.
type Source struct {
	// HTTP sends token requests; nil means a client with a 30 s timeout.
	HTTP *http.Client
	// Kind is "service_account", "authorized_user" or "metadata", for messages.
	Kind string

	fetch func(ctx context.Context, hc *http.Client) (token string, expires time.Time, err error)

	mu      sync.Mutex
	token   string
	expires time.Time
}

// Token returns a valid access token.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && time.Until(s.expires) > time.Minute {
		return s.token, nil
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	tok, exp, err := s.fetch(ctx, hc)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, exp
	return tok, nil
}

// keyFile is the subset of a credentials JSON file this package reads.
type keyFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

// FromJSON builds a Source from a service account key or a gcloud user credential ("authorized_user").
func FromJSON(data []byte, scopes ...string) (*Source, error) {
	var k keyFile
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, errors.New("the credentials are not JSON")
	}
	switch k.Type {
	case "service_account":
		return serviceAccount(k, scopes)
	case "authorized_user":
		if k.ClientID == "" || k.ClientSecret == "" || k.RefreshToken == "" {
			return nil, errors.New("the user credentials lack client_id, client_secret or refresh_token")
		}
		uri := k.TokenURI
		if uri == "" {
			uri = DefaultTokenURI
		}
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {k.ClientID},
			"client_secret": {k.ClientSecret}, "refresh_token": {k.RefreshToken}}
		return &Source{Kind: k.Type, fetch: func(ctx context.Context, hc *http.Client) (string, time.Time, error) {
			return exchange(ctx, hc, uri, form)
		}}, nil
	case "":
		return nil, errors.New("the credentials JSON has no \"type\"")
	default:
		return nil, fmt.Errorf("credentials of type %q are not supported (use a service account key)", k.Type)
	}
}

// tokenReply is the token endpoint's (and the metadata server's) answer.
type tokenReply struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// exchange posts form to uri and reads the access token.
func exchange(ctx context.Context, hc *http.Client, uri string, form url.Values) (string, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, errors.New("getting an access token: bad token_uri")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(hc, req)
}

// send does req and decodes a tokenReply.
func send(hc *http.Client, req *http.Request) (string, time.Time, error) {
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", time.Time{}, fmt.Errorf("getting an access token: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("getting an access token: %w", err)
	}
	var r tokenReply
	jsonErr := json.Unmarshal(data, &r)
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(r.Error + ": " + r.Description)
		if jsonErr != nil || r.Error == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return "", time.Time{}, fmt.Errorf("getting an access token: HTTP %d: %s", resp.StatusCode, msg)
	}
	if jsonErr != nil || r.AccessToken == "" {
		return "", time.Time{}, errors.New("getting an access token: the reply holds no access_token")
	}
	if r.ExpiresIn <= 0 {
		r.ExpiresIn = 3600
	}
	return r.AccessToken, start.Add(time.Duration(r.ExpiresIn) * time.Second), nil
}
