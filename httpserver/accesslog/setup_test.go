package accesslog

import (
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	def := DefaultRotation()
	tests := []struct {
		name    string
		src     string
		want    Config
		wantErr string
	}{
		{name: "bare", src: "log", want: Config{Path: "/", Dest: "access.log", Format: "{common}", Rotation: def}},
		{name: "dest", src: "log stdout", want: Config{Path: "/", Dest: "stdout", Format: "{common}", Rotation: def}},
		{name: "path dest", src: "log /api api.log", want: Config{Path: "/api", Dest: "api.log", Format: "{common}", Rotation: def}},
		{name: "format", src: `log / stderr "{remote} {status}"`, want: Config{Path: "/", Dest: "stderr", Format: "{remote} {status}", Rotation: def}},
		{name: "syslog", src: "log / syslog+tcp://logs.example:514 {combined}", want: Config{Path: "/", Dest: "syslog+tcp://logs.example:514", Format: "{combined}", Rotation: def}},
		{name: "block", src: "log / a.log {\n rotate_size 5\n rotate_age 2\n rotate_keep 3\n rotate_compress\n ipmask 255.255.0.0 ffff:ffff::\n except /health /metrics\n except /x\n}",
			want: Config{Path: "/", Dest: "a.log", Format: "{common}",
				Rotation: Rotation{MaxSizeMB: 5, MaxAgeDays: 2, MaxBackups: 3, Compress: true},
				IPMask:   &IPMask{V4: net.IPMask(net.ParseIP("255.255.0.0").To4()), V6: net.IPMask(net.ParseIP("ffff:ffff::"))},
				Except:   []string{"/health", "/metrics", "/x"}}},
		{name: "rotate disable", src: "log x.log {\n rotate_disable\n}",
			want: Config{Path: "/", Dest: "x.log", Format: "{common}", Rotation: Rotation{Disabled: true, MaxSizeMB: 100, MaxAgeDays: 14, MaxBackups: 10}}},
		{name: "ipv4 mask only", src: "log x.log {\n ipmask 255.255.255.0\n}",
			want: Config{Path: "/", Dest: "x.log", Format: "{common}", Rotation: def, IPMask: &IPMask{V4: net.IPMask(net.ParseIP("255.255.255.0").To4())}}},
		{name: "ipv6 mask only", src: "log x.log {\n ipmask \"\" ffff:ffff::\n}",
			want: Config{Path: "/", Dest: "x.log", Format: "{common}", Rotation: def, IPMask: &IPMask{V6: net.IPMask(net.ParseIP("ffff:ffff::"))}}},
		{name: "too many args", src: "log / a b c", wantErr: "Casketfile:1: log: expected at most 3 arguments"},
		{name: "bad path", src: "log api a.log", wantErr: `Casketfile:1: log: path "api" must start with /`},
		{name: "bad syslog", src: "log / syslog://nohost", wantErr: "Casketfile:1: log: invalid syslog destination"},
		{name: "bad syslog scheme", src: "log / syslog+sctp://h:1", wantErr: "invalid syslog scheme"},
		{name: "empty format", src: `log / a.log ""`, wantErr: "Casketfile:1: log: empty format"},
		{name: "rotate_size arg", src: "log a.log {\n rotate_size\n}", wantErr: "Casketfile:2: log: rotate_size: expected one number"},
		{name: "rotate_keep bad", src: "log a.log {\n rotate_keep many\n}", wantErr: `Casketfile:2: log: rotate_keep: "many" is not a non-negative whole number`},
		{name: "rotate_compress arg", src: "log a.log {\n rotate_compress yes\n}", wantErr: "rotate_compress takes no arguments"},
		{name: "ipmask none", src: "log a.log {\n ipmask\n}", wantErr: "Casketfile:2: log: ipmask: expected an IPv4 mask"},
		{name: "ipmask bad v4", src: "log a.log {\n ipmask ffff::\n}", wantErr: "is not an IPv4 mask"},
		{name: "ipmask bad v6", src: "log a.log {\n ipmask 255.0.0.0 255.0.0.0\n}", wantErr: "is not an IPv6 mask"},
		{name: "except none", src: "log a.log {\n except\n}", wantErr: "except: expected one or more paths"},
		{name: "except relative", src: "log a.log {\n except health\n}", wantErr: "must start with /"},
		{name: "unknown", src: "log a.log {\n rotate_sizes 1\n}", wantErr: `Casketfile:2: log: unknown subdirective "rotate_sizes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := mw(nil).(*Handler).Config
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}
