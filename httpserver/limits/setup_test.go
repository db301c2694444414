package limits

import (
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name       string
		src        string
		wantHeader int
		wantRules  []BodyRule
		wantErr    string
	}{
		{name: "single", src: "limits 10mb", wantHeader: 10 << 20, wantRules: []BodyRule{{"/", 10 << 20}}},
		{name: "bytes", src: "limits 7500", wantHeader: 7500, wantRules: []BodyRule{{"/", 7500}}},
		{name: "block", src: "limits {\n header 100KB\n body /upload 100MB\n body /api 10kb\n body 1gb\n}",
			wantHeader: 100 << 10,
			wantRules:  []BodyRule{{"/upload", 100 << 20}, {"/api", 10 << 10}, {"/", 1 << 30}}},
		{name: "header only", src: "limits {\n header 4kb\n}", wantHeader: 4 << 10},
		{name: "no args", src: "limits", wantErr: "Casketfile:1: limits: expected a size"},
		{name: "too many", src: "limits 1 2", wantErr: "Casketfile:1: limits: expected one size"},
		{name: "bad size", src: "limits lots", wantErr: `Casketfile:1: limits: invalid size "lots"`},
		{name: "zero", src: "limits 0", wantErr: "invalid size"},
		{name: "negative", src: "limits -5kb", wantErr: "invalid size"},
		{name: "bad unit", src: "limits 5tb", wantErr: "invalid size"},
		{name: "unknown sub", src: "limits {\n footer 1kb\n}", wantErr: `Casketfile:2: limits: unknown subdirective "footer"`},
		{name: "header args", src: "limits {\n header\n}", wantErr: "Casketfile:2: limits: header: expected one size"},
		{name: "body args", src: "limits {\n body / 1 2\n}", wantErr: "Casketfile:2: limits: body: expected [path] size"},
		{name: "body path", src: "limits {\n body upload 1kb\n}", wantErr: "must start with /"},
		{name: "dup body", src: "limits {\n body 1kb\n body / 2kb\n}", wantErr: "Casketfile:3: limits: duplicate body limit"},
		{name: "overflow", src: "limits 99999999999999gb", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s httpserver.Site
			mw, err := Setup(testutil.Dispenser(t, tt.src), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.MaxHeaderBytes != tt.wantHeader {
				t.Errorf("MaxHeaderBytes = %d, want %d", s.MaxHeaderBytes, tt.wantHeader)
			}
			if tt.wantRules == nil {
				if mw != nil {
					t.Error("expected no middleware without body rules")
				}
				return
			}
			h := mw(nil).(*Handler)
			if !reflect.DeepEqual(h.Rules, tt.wantRules) {
				t.Errorf("Rules = %v, want %v", h.Rules, tt.wantRules)
			}
		})
	}
}

func TestSetupHeaderKeepsSmallest(t *testing.T) {
	s := httpserver.Site{MaxHeaderBytes: 1000}
	if _, err := Setup(testutil.Dispenser(t, "limits 2000"), &s); err != nil {
		t.Fatal(err)
	}
	if s.MaxHeaderBytes != 1000 {
		t.Errorf("MaxHeaderBytes = %d, want the smaller 1000", s.MaxHeaderBytes)
	}
}
