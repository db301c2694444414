package status

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
		want    []Rule
		wantErr string
	}{
		{name: "one path", src: "status 404 /secrets", want: []Rule{{404, "/secrets"}}},
		{name: "catch-all", src: "status 503 /", want: []Rule{{503, "/"}}},
		{name: "block", src: "status 404 {\n /hidden\n /secrets /more\n}",
			want: []Rule{{404, "/secrets"}, {404, "/hidden"}, {404, "/more"}}},
		{name: "longest first", src: "status 404 /a\nstatus 204 /a/b", want: []Rule{{204, "/a/b"}, {404, "/a"}}},
		{name: "2xx", src: "status 204 /ping", want: []Rule{{204, "/ping"}}},
		{name: "no args", src: "status", wantErr: "Casketfile:1: status: expected `status code path`"},
		{name: "too many", src: "status 404 /a /b", wantErr: "Casketfile:1: status: expected `status code path` or `status code { paths... }`, got 3 arguments"},
		{name: "code only", src: "status 404", wantErr: "Casketfile:1: status: status 404 has no paths"},
		{name: "not numeric", src: "status gone /a", wantErr: `Casketfile:1: status: invalid status code "gone": use a number from 200 to 599`},
		{name: "1xx", src: "status 100 /a", wantErr: `Casketfile:1: status: invalid status code "100"`},
		{name: "600", src: "status 600 /a", wantErr: `Casketfile:1: status: invalid status code "600"`},
		{name: "relative path", src: "status 404 secrets", wantErr: `Casketfile:1: status: base path "secrets" must start with /`},
		{name: "duplicate in block", src: "status 404 {\n /a\n /a\n}", wantErr: `Casketfile:3: status: duplicate path "/a" (already status 404)`},
		{name: "empty block", src: "status 404 {\n}", wantErr: "status: status 404 has no paths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "Casketfile:") {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mw(nil).(*Status).Rules; !slices.Equal(got, tt.want) {
				t.Fatalf("rules = %v, want %v", got, tt.want)
			}
		})
	}
}
