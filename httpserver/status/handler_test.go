package status

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestStatusServeHTTP(t *testing.T) {
	const src = "status 404 {\n /secrets\n /hidden\n}\nstatus 204 /secrets/ping\nstatus 301 /moved"
	tests := []struct {
		url      string
		wantErr  int // status carried by the returned error
		wantCode int // status written directly
		wantNext bool
	}{
		{url: "/secrets/x", wantErr: 404},
		{url: "/SECRETS", wantErr: 404},
		{url: "/hiddenfile", wantErr: 404},
		{url: "/secrets/ping", wantCode: 204},
		{url: "/moved", wantCode: 301},
		{url: "/public", wantNext: true},
	}
	mw, err := Setup(testutil.Dispenser(t, src), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			called := false
			h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				called = true
				return nil
			}))
			w := httptest.NewRecorder()
			err := h.ServeHTTP(w, httptest.NewRequest("GET", tt.url, nil))
			if called != tt.wantNext {
				t.Fatalf("next called = %v", called)
			}
			switch {
			case tt.wantErr != 0:
				if err == nil || httpserver.StatusOf(err) != tt.wantErr {
					t.Fatalf("err = %v, want status %d", err, tt.wantErr)
				}
				if w.Body.Len() != 0 {
					t.Fatalf("body written: %q", w.Body)
				}
			case tt.wantCode != 0:
				if err != nil || w.Code != tt.wantCode || w.Body.Len() != 0 {
					t.Fatalf("got %d %q err %v, want bare %d", w.Code, w.Body, err, tt.wantCode)
				}
			}
		})
	}
}
