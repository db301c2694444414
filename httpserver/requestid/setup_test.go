package requestid

import (
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name, src, want, wantErr string
	}{
		{name: "bare", src: "request_id", want: ""},
		{name: "trusted header", src: "request_id x-request-id", want: "X-Request-Id"},
		{name: "two fields", src: "request_id A B", wantErr: "Casketfile:1: request_id: expected at most one request header field to trust, got 2"},
		{name: "block", src: "request_id {\n x\n}", wantErr: "Casketfile:2: request_id: request_id takes no block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mw(nil).(*RequestID).TrustHeader; got != tt.want {
				t.Fatalf("TrustHeader = %q, want %q", got, tt.want)
			}
		})
	}
}
