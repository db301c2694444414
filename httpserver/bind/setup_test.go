package bind

import (
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    string
		wantErr string
	}{
		{name: "ipv4", src: "bind 127.0.0.1", want: "127.0.0.1"},
		{name: "hostname", src: "bind localhost", want: "localhost"},
		{name: "ipv6 bare", src: "bind ::1", want: "::1"},
		{name: "ipv6 brackets", src: "bind [::1]", want: "::1"},
		{name: "no args", src: "bind", wantErr: "Casketfile:1: bind: expected exactly one argument"},
		{name: "two args", src: "bind a b", wantErr: "Casketfile:1: bind: expected exactly one argument"},
		{name: "port", src: "bind 127.0.0.1:8080", wantErr: "Casketfile:1: bind: \"127.0.0.1:8080\" has a port"},
		{name: "ipv6 port", src: "bind [::1]:80", wantErr: "has a port"},
		{name: "bad ipv6", src: "bind [zz]", wantErr: "not a valid IPv6"},
		{name: "block", src: "bind h {\n x\n}", wantErr: "Casketfile:2: bind: takes no block"},
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
			if mw != nil {
				t.Error("bind must not add middleware")
			}
			if s.BindHost != tt.want {
				t.Errorf("BindHost = %q, want %q", s.BindHost, tt.want)
			}
		})
	}
}
