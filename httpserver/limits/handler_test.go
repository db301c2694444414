package limits

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
)

// readAll is a next handler that reads the whole body, as a proxy or upload handler would.
var readAll = httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
})

func TestHandler(t *testing.T) {
	h := &Handler{Next: readAll, Rules: []BodyRule{{"/upload", 10}, {"/", 5}}}
	tests := []struct {
		name       string
		path       string
		body       string
		chunked    bool // hide the length so only the reader can catch the overflow
		wantStatus int  // 0 means the next handler succeeded
	}{
		{name: "under root limit", path: "/x", body: "12345"},
		{name: "over root limit", path: "/x", body: "123456", wantStatus: 413},
		{name: "longest path wins", path: "/upload/a", body: "1234567890"},
		{name: "over path limit", path: "/upload/a", body: "12345678901", wantStatus: 413},
		{name: "chunked over", path: "/x", body: "123456789", chunked: true, wantStatus: 413},
		{name: "chunked under", path: "/upload", body: "123456789", chunked: true},
		{name: "dot segments", path: "/upload/../x", body: "1234567", wantStatus: 413},
		{name: "case insensitive", path: "/UPLOAD/a", body: "1234567"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // not a type httptest knows the length of
			}
			r := httptest.NewRequest(http.MethodPost, "http://example.com"+tt.path, body)
			if tt.chunked && r.ContentLength != -1 && r.ContentLength != 0 {
				t.Fatalf("test setup: ContentLength = %d", r.ContentLength)
			}
			w := httptest.NewRecorder()
			err := h.ServeHTTP(w, r)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if w.Body.String() != tt.body {
					t.Errorf("body = %q", w.Body.String())
				}
				return
			}
			if got := httpserver.StatusOf(err); err == nil || got != tt.wantStatus {
				t.Fatalf("err = %v (status %d), want status %d", err, got, tt.wantStatus)
			}
		})
	}
}

func TestHandlerNoBodyPassesThrough(t *testing.T) {
	called := false
	h := &Handler{Next: httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		return nil
	}), Rules: []BodyRule{{"/", 1}}}
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Error("next not called")
	}
}

func TestHandlerKeepsOtherErrors(t *testing.T) {
	boom := errors.New("boom")
	h := &Handler{Next: httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return boom }),
		Rules: []BodyRule{{"/", 100}}}
	err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader([]byte("x"))))
	if !errors.Is(err, boom) || httpserver.StatusOf(err) != 500 {
		t.Errorf("err = %v, want boom passed through", err)
	}
}

func TestHandlerRealServer(t *testing.T) {
	h := &Handler{Next: readAll, Rules: []BodyRule{{"/", 8}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r); err != nil {
			w.WriteHeader(httpserver.StatusOf(err))
		}
	}))
	defer srv.Close()
	// A chunked upload: the client does not announce the length.
	resp, err := http.Post(srv.URL+"/up", "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("x", 100))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
}
