package awsconf

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/casketserver/casket/dnsproviders/internal/awssig"
)

// Client signs requests to one AWS API with SigV4 and retries throttling, 5xx replies and network
// errors (MaxRetries times, 2 by default, with jittered exponential backoff).
type Client struct {
	Provider string // for error messages, e.g. "route53"
	Service  string // the SigV4 service name
	Region   string // the SigV4 region
	Endpoint string // the API base URL, without a trailing slash
	Creds    Credentials
	HTTP     *http.Client  // nil means a client with a 30 s timeout
	MinWait  time.Duration // the first backoff; 0 means 500 ms

	getenv                 func(string) string // tests
	imdsURL, containerHost string              // tests

	mu   sync.Mutex
	keys temporary
	have bool
}

// APIError is a reply outside 2xx, with the AWS error code when the body has one.
type APIError struct {
	Operation string
	Status    int
	Code      string
	Message   string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d", e.Operation, e.Status)
	if e.Code != "" {
		msg += ": api error " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// retryable error codes besides 5xx and 429 (throttling, and Route 53's concurrent change refusal).
var retryable = map[string]bool{"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true, "RequestLimitExceeded": true,
	"RequestThrottled": true, "SlowDown": true, "PriorRequestNotComplete": true, "RequestTimeout": true,
	"RequestTimeoutException": true, "ProvisionedThroughputExceededException": true}

// Do sends body to pathQuery (path plus a query built with awssig.Query) with the extra headers, and
// returns the body of a 2xx reply. operation names the call in errors.
func (c *Client) Do(ctx context.Context, operation, method, pathQuery string, hdr http.Header, body []byte) ([]byte, error) {
	retries := c.Creds.MaxRetries
	if retries == 0 {
		retries = 2
	}
	wait := c.MinWait
	if wait == 0 {
		wait = 500 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		data, err := c.once(ctx, operation, method, pathQuery, hdr, body)
		var ae *APIError
		retry := errors.As(err, &ae) && (ae.Status >= 500 || ae.Status == 429 || retryable[ae.Code])
		var ne netError
		if errors.As(err, &ne) {
			retry = ctx.Err() == nil
		}
		if err == nil || !retry || attempt >= retries {
			return data, err
		}
		d := wait<<attempt/2 + rand.N(wait<<attempt/2+1)
		t := time.NewTimer(min(d, 20*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// netError is a transport failure (no reply).
type netError struct{ error }

func (e netError) Unwrap() error { return e.error }

// credentials returns cached keys, refreshing them 5 minutes before they expire.
func (c *Client) credentials(ctx context.Context) (awssig.Keys, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && (c.keys.Expires.IsZero() || time.Until(c.keys.Expires) > 5*time.Minute) {
		return c.keys.Keys, nil
	}
	r := &resolver{creds: c.Creds, http: c.HTTP, getenv: c.getenv, imdsURL: c.imdsURL, containerHost: c.containerHost}
	k, err := r.resolve(ctx)
	if err != nil {
		return awssig.Keys{}, fmt.Errorf("loading AWS credentials: %w", err)
	}
	c.keys, c.have = k, true
	return k.Keys, nil
}

func (c *Client) once(ctx context.Context, operation, method, pathQuery string, hdr http.Header, body []byte) ([]byte, error) {
	keys, err := c.credentials(ctx)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Endpoint+pathQuery, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.Provider, operation, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.URL.RawQuery = awssig.CanonicalQuery(req.URL.RawQuery)
	awssig.Sign(req, body, keys, c.Service, c.Region, time.Now())
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, netError{fmt.Errorf("%s: %s: %w", c.Provider, operation, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, netError{fmt.Errorf("%s: %s: reading reply: %w", c.Provider, operation, err)}
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	e := &APIError{Operation: operation, Status: resp.StatusCode}
	if e.Code, e.Message = xmlError(data); e.Code == "" {
		e.Code, e.Message = jsonError(data, resp.Header)
	}
	return nil, e
}

// xmlError reads <Error><Code> and <Message> of an AWS XML error body, or the root element's name and
// its <Messages> (Route 53's InvalidChangeBatch).
func xmlError(data []byte) (code, msg string) {
	var e struct {
		XMLName  xml.Name
		Code     string   `xml:"Error>Code"`
		Message  string   `xml:"Error>Message"`
		Messages []string `xml:"Messages>Message"`
	}
	if xml.Unmarshal(data, &e) != nil {
		return "", ""
	}
	if e.Code == "" && len(e.Messages) > 0 {
		return e.XMLName.Local, truncate(strings.Join(e.Messages, "; "))
	}
	return e.Code, truncate(e.Message)
}

// jsonError reads __type and message of an AWS JSON error body (or X-Amzn-Errortype).
func jsonError(data []byte, h http.Header) (code, msg string) {
	var e struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(data, &e)
	code = e.Type
	if code == "" {
		code = e.Code
	}
	if code == "" {
		code = h.Get("X-Amzn-Errortype")
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	msg = e.Message
	if msg == "" {
		msg = e.MessageU
	}
	return code, truncate(msg)
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
