package metrics

import (
	"strings"
	"testing"

	"github.com/casketserver/casket/internal/testutil"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    Config
		wantErr string
	}{
		{name: "defaults", src: "prometheus", want: Config{Address: "localhost:9180", Path: "/metrics"}},
		{name: "address arg", src: "prometheus 0.0.0.0:9100", want: Config{Address: "0.0.0.0:9100", Path: "/metrics"}},
		{name: "block", src: "prometheus {\n address :9300\n path /m\n hostname web\n}",
			want: Config{Address: ":9300", Path: "/m", Site: "web"}},
		{name: "site addr", src: "prometheus {\n use_casket_addr\n}",
			want: Config{Address: "localhost:9180", Path: "/metrics", UseSiteAdr: true}},
		{name: "two args", src: "prometheus a:1 b:2", wantErr: "at most one argument"},
		{name: "no port", src: "prometheus localhost", wantErr: "must be host:port"},
		{name: "address twice", src: "prometheus :1 {\n address :2\n}", wantErr: "address given twice"},
		{name: "bad path", src: "prometheus {\n path metrics\n}", wantErr: "must start with /"},
		{name: "path without value", src: "prometheus {\n path\n}", wantErr: "expected exactly one value"},
		{name: "flag with arg", src: "prometheus {\n use_casket_addr yes\n}", wantErr: "takes no arguments"},
		{name: "unknown", src: "prometheus {\n label a b\n}", wantErr: `unknown subdirective "label"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(testutil.Dispenser(t, tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "prometheus") {
					t.Errorf("error %q does not name the directive", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
