package internalpath

import (
	"slices"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		wantErr string
	}{
		{name: "one", src: "internal /internal", want: []string{"/internal"}},
		{name: "several", src: "internal /a /b", want: []string{"/a", "/b"}},
		{name: "twice", src: "internal /a\ninternal /b", want: []string{"/a", "/b"}},
		{name: "none", src: "internal", wantErr: "Casketfile:1: internal: missing path"},
		{name: "relative", src: "internal secret", wantErr: `Casketfile:1: internal: path "secret" must start with /`},
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
			if got := mw(nil).(*Internal).Paths; !slices.Equal(got, tt.want) {
				t.Fatalf("paths = %q, want %q", got, tt.want)
			}
		})
	}
}
