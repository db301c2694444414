package timeouts

import (
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    httpserver.Timeouts
		wantErr string
	}{
		{name: "all", src: "timeouts 30s", want: httpserver.Timeouts{Read: 30 * time.Second, ReadHeader: 30 * time.Second, Write: 30 * time.Second, Idle: 30 * time.Second}},
		{name: "none", src: "timeouts none", want: httpserver.Timeouts{Read: None, ReadHeader: None, Write: None, Idle: None}},
		{name: "zero is none", src: "timeouts 0", want: httpserver.Timeouts{Read: None, ReadHeader: None, Write: None, Idle: None}},
		{name: "block", src: "timeouts {\n read 10s\n header 2s\n write none\n idle 2m\n}", want: httpserver.Timeouts{Read: 10 * time.Second, ReadHeader: 2 * time.Second, Write: None, Idle: 2 * time.Minute}},
		{name: "block partial", src: "timeouts {\n idle 1m\n}", want: httpserver.Timeouts{Idle: time.Minute}},
		{name: "no args", src: "timeouts", wantErr: "Casketfile:1: timeouts: expected a duration"},
		{name: "two args", src: "timeouts 1s 2s", wantErr: "Casketfile:1: timeouts: expected one duration"},
		{name: "bad duration", src: "timeouts soon", wantErr: `Casketfile:1: timeouts: invalid duration "soon"`},
		{name: "negative", src: "timeouts -1s", wantErr: "Casketfile:1: timeouts: negative duration"},
		{name: "unknown sub", src: "timeouts {\n linger 1s\n}", wantErr: `Casketfile:2: timeouts: unknown subdirective "linger"`},
		{name: "sub no value", src: "timeouts {\n read\n}", wantErr: "Casketfile:2: timeouts: read: expected one duration"},
		{name: "sub two values", src: "timeouts {\n read 1s 2s\n}", wantErr: "Casketfile:2: timeouts: read: expected one duration"},
		{name: "arg and block", src: "timeouts 1s {\n read 1s\n}", wantErr: "either"},
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
				t.Error("timeouts must not add middleware")
			}
			if s.Timeouts != tt.want {
				t.Errorf("Timeouts = %+v, want %+v", s.Timeouts, tt.want)
			}
		})
	}
}
