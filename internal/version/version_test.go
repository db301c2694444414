package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{name: "stamped wins", stamped: "v1.2.3", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.1"}}, want: "v1.2.3"},
		{name: "module version", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0", Sum: "h1:x"}}, want: "v0.4.0"},
		{name: "devel with revision", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, want: "(devel) 0123456789ab+dirty"},
		{name: "devel bare", bi: &debug.BuildInfo{}, want: "(devel)"},
		{name: "no build info", bi: nil, want: "(unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.stamped, tt.bi, tt.bi != nil)
			if got.Version != tt.want {
				t.Errorf("Version = %q, want %q", got.Version, tt.want)
			}
			if !strings.HasPrefix(got.String(), "Casket "+tt.want+" (") {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
}
