package internalpath

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// backend plays both roles behind `internal /internal`: a proxy at /redirect/* answering with
// X-Accel-Redirect, and a file server for everything else.
func backend(t *testing.T, seen *[]string) httpserver.Handler {
	return httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		*seen = append(*seen, r.Method+" "+r.URL.RequestURI())
		switch {
		case strings.HasPrefix(r.URL.Path, "/redirect/loop"):
			w.Header().Set(RedirectHeader, "/redirect/loop")
			w.WriteHeader(http.StatusOK)
			return nil
		case strings.HasPrefix(r.URL.Path, "/redirect/relative"):
			w.Header().Set(RedirectHeader, "internal/file.txt")
			return nil
		case strings.HasPrefix(r.URL.Path, "/redirect/"):
			w.Header().Set(RedirectHeader, "/internal/"+strings.TrimPrefix(r.URL.Path, "/redirect/"))
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Length", "7")
			w.Header().Set("Content-Disposition", "attachment")
			w.WriteHeader(http.StatusAccepted)
			_, err := io.Copy(w, strings.NewReader("ignored"))
			return err
		}
		w.Header().Set("Content-Type", "text/plain")
		_, err := io.WriteString(w, "file "+r.URL.RequestURI())
		return err
	})
}

func newInternal(t *testing.T, next httpserver.Handler) httpserver.Handler {
	t.Helper()
	mw, err := Setup(testutil.Dispenser(t, "internal /internal"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	return mw(next)
}

func TestInternalServeHTTP(t *testing.T) {
	tests := []struct {
		name, method, url string
		wantErr           int
		wantCode          int
		wantBody          string
		wantSeen          string
	}{
		{name: "hidden", method: "GET", url: "/internal/file.txt", wantErr: 404, wantSeen: ""},
		{name: "hidden any case", method: "GET", url: "/INTERNAL/file.txt", wantErr: 404, wantSeen: ""},
		{name: "public", method: "GET", url: "/public.txt", wantCode: 200, wantBody: "file /public.txt", wantSeen: "GET /public.txt"},
		{name: "accel redirect", method: "GET", url: "/redirect/file.txt", wantCode: 200, wantBody: "file /internal/file.txt",
			wantSeen: "GET /redirect/file.txt|GET /internal/file.txt"},
		{name: "post becomes get", method: "POST", url: "/redirect/file.txt?x=1", wantCode: 200, wantBody: "file /internal/file.txt?x=1",
			wantSeen: "POST /redirect/file.txt?x=1|GET /internal/file.txt?x=1"},
		{name: "loop stops", method: "GET", url: "/redirect/loop", wantErr: 500,
			wantSeen: strings.Repeat("GET /redirect/loop|", MaxRedirects) + "GET /redirect/loop"},
		{name: "not a path", method: "GET", url: "/redirect/relative", wantErr: 500, wantSeen: "GET /redirect/relative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			h := newInternal(t, backend(t, &seen))
			w := httptest.NewRecorder()
			err := h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.url, bytes.NewReader([]byte("body"))))
			if got := strings.Join(seen, "|"); got != tt.wantSeen {
				t.Errorf("next saw %q, want %q", got, tt.wantSeen)
			}
			if tt.wantErr != 0 {
				if httpserver.StatusOf(err) != tt.wantErr || err == nil {
					t.Fatalf("err = %v, want status %d", err, tt.wantErr)
				}
				if w.Body.Len() != 0 || w.Header().Get(RedirectHeader) != "" {
					t.Fatalf("leaked response: %v %q", w.Header(), w.Body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.wantCode || w.Body.String() != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body, tt.wantCode, tt.wantBody)
			}
			if w.Header().Get(RedirectHeader) != "" {
				t.Fatal("X-Accel-Redirect reached the client")
			}
			if strings.HasPrefix(tt.url, "/redirect/") {
				if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
					t.Errorf("Content-Type = %q, want the internal file's", ct)
				}
				if w.Header().Get("Content-Disposition") != "attachment" {
					t.Error("Content-Disposition from the backend was dropped")
				}
			}
		})
	}
}

func TestInternalHeadStaysHead(t *testing.T) {
	var seen []string
	h := newInternal(t, backend(t, &seen))
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("HEAD", "/redirect/a", nil)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, "|"); got != "HEAD /redirect/a|HEAD /internal/a" {
		t.Fatalf("next saw %q", got)
	}
}

func TestInternalCommittedResponseIsKept(t *testing.T) {
	// A handler that sets X-Accel-Redirect after it already wrote cannot be redirected any more.
	h := newInternal(t, httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "sent")
		w.Header().Set(RedirectHeader, "/internal/x")
		return nil
	}))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/a", nil)); err != nil {
		t.Fatal(err)
	}
	if w.Body.String() != "sent" {
		t.Fatalf("body = %q", w.Body)
	}
}

func TestInternalUnwrap(t *testing.T) {
	w := httptest.NewRecorder()
	h := newInternal(t, httpserver.HandlerFunc(func(iw http.ResponseWriter, r *http.Request) error {
		if u, ok := iw.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != w {
			t.Fatal("Unwrap does not reach the outer writer")
		}
		return nil
	}))
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
}
