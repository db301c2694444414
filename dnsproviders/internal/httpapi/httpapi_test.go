package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRetryAndErrors(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch {
		case r.Header.Get("Authorization") != "Bearer tok":
			w.WriteHeader(401)
			w.Write([]byte(`{"message":"bad token"}`))
		case r.URL.Path == "/flaky" && calls < 3:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		case r.URL.Path == "/flaky":
			w.Write([]byte(`{"ok":true}`))
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"errors":[{"code":7003,"message":"no route"}]}`))
		}
	}))
	defer srv.Close()
	c := &Client{Provider: "test", BaseURL: srv.URL, MinWait: time.Millisecond,
		Auth: func(r *http.Request, _ []byte) error { r.Header.Set("Authorization", "Bearer tok"); return nil }}
	var out struct{ OK bool }
	if err := c.Do(context.Background(), http.MethodGet, "/flaky", nil, &out); err != nil || !out.OK || calls != 3 {
		t.Fatalf("out %+v, err %v, calls %d", out, err, calls)
	}
	err := c.Do(context.Background(), http.MethodGet, "/missing?api_key=secret-in-query", nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 || !strings.Contains(err.Error(), "no route") || strings.Contains(err.Error(), "secret-in-query") {
		t.Errorf("err = %v", err)
	}
	c.Auth = nil
	if err := c.Do(context.Background(), http.MethodGet, "/x", nil, nil); !errors.As(err, &se) || se.Status != 401 || !strings.Contains(err.Error(), "bad token") {
		t.Errorf("err = %v", err)
	}
}
