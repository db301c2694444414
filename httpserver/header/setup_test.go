package header

import (
	"reflect"
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
		{
			name: "set",
			src:  "header / X-Custom-Header \"My value\"",
			want: []Rule{{Path: "/", Ops: []Op{{Action: Set, Name: "X-Custom-Header", Value: "My value"}}}},
		},
		{
			name: "canonical name and joined value",
			src:  "header /api cache-control max-age=3600, public",
			want: []Rule{{Path: "/api", Ops: []Op{{Action: Set, Name: "Cache-Control", Value: "max-age=3600, public"}}}},
		},
		{
			name: "remove",
			src:  "header / -Server",
			want: []Rule{{Path: "/", Ops: []Op{{Action: Remove, Name: "Server"}}}},
		},
		{
			name: "add with placeholder",
			src:  "header / +Link </style.css>;rel=preload",
			want: []Rule{{Path: "/", Ops: []Op{{Action: Add, Name: "Link", Value: "</style.css>;rel=preload"}}}},
		},
		{
			name: "block",
			src:  "header /api {\n Access-Control-Allow-Origin *\n +Vary Origin\n -Server\n X-Id {request_id}\n X-Type {<Content-Type}\n}",
			want: []Rule{{Path: "/api", Ops: []Op{
				{Action: Set, Name: "Access-Control-Allow-Origin", Value: "*"},
				{Action: Add, Name: "Vary", Value: "Origin"},
				{Action: Remove, Name: "Server"},
				{Action: Set, Name: "X-Id", Value: "{request_id}", dynamic: true},
				{Action: Set, Name: "X-Type", Value: "{<Content-Type}", dynamic: true, late: true},
			}}},
		},
		{
			name: "two occurrences in one dispenser",
			src:  "header /a X-A 1\nheader /b -X-B",
			want: []Rule{
				{Path: "/a", Ops: []Op{{Action: Set, Name: "X-A", Value: "1"}}},
				{Path: "/b", Ops: []Op{{Action: Remove, Name: "X-B"}}},
			},
		},
		{name: "no path", src: "header", wantErr: "Casketfile:1: header: missing base path"},
		{name: "no field", src: "header /", wantErr: `Casketfile:1: header: no header fields for path "/"`},
		{name: "empty block", src: "header / {\n}", wantErr: "Casketfile:2: header: no header fields"},
		{name: "no value", src: "header / X-A", wantErr: "Casketfile:1: header: missing value for X-A"},
		{name: "remove with value", src: "header / -X-A b", wantErr: "Casketfile:1: header: -X-A removes a field"},
		{name: "bad name", src: "header / X(A) b", wantErr: `Casketfile:1: header: invalid header field name "X(A)"`},
		{name: "bare minus", src: "header / {\n -\n}", wantErr: `Casketfile:2: header: invalid header field name ""`},
		{name: "newline in value", src: "header / X-A \"a\nb\"", wantErr: "Casketfile:1: header: value of X-A must not contain line breaks"},
		{name: "block line without value", src: "header / {\n X-A 1\n X-B\n}", wantErr: "Casketfile:3: header: missing value for X-B"},
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
			h := mw(nil).(*Headers)
			if !reflect.DeepEqual(h.Rules, tt.want) {
				t.Fatalf("rules =\n%+v\nwant\n%+v", h.Rules, tt.want)
			}
		})
	}
}
