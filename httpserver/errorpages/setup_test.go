package errorpages

import (
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/accesslog"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	def := accesslog.DefaultRotation()
	tests := []struct {
		name    string
		src     string
		want    Config
		wantErr string
	}{
		{name: "bare", src: "errors", want: Config{Dest: "stderr", Pages: map[int]string{}, Rotation: def}},
		{name: "file", src: "errors error.log", want: Config{Dest: "error.log", Pages: map[int]string{}, Rotation: def}},
		{name: "visible", src: "errors visible", want: Config{Dest: "visible", Pages: map[int]string{}, Rotation: def}},
		{name: "block", src: "errors {\n 404 404.html\n 500 /srv/500.html\n * error.html\n log errors.log\n rotate_keep 2\n}",
			want: Config{Dest: "errors.log", Pages: map[int]string{404: "404.html", 500: "/srv/500.html"}, Generic: "error.html",
				Rotation: accesslog.Rotation{MaxSizeMB: 100, MaxAgeDays: 14, MaxBackups: 2}}},
		{name: "arg and block", src: "errors stdout {\n 404 nf.html\n}", want: Config{Dest: "stdout", Pages: map[int]string{404: "nf.html"}, Rotation: def}},
		{name: "two args", src: "errors a b", wantErr: "Casketfile:1: errors: expected at most one argument"},
		{name: "bad code", src: "errors {\n 4o4 x.html\n}", wantErr: `Casketfile:2: errors: expected an error status code (400-599), ` + "`*`" + `, ` + "`log`" + ` or a rotate_* option, got "4o4"`},
		{name: "non-error code", src: "errors {\n 200 x.html\n}", wantErr: `got "200"`},
		{name: "no file", src: "errors {\n 404\n}", wantErr: "Casketfile:2: errors: 404: expected exactly one file"},
		{name: "two files", src: "errors {\n 404 a b\n}", wantErr: "404: expected exactly one file"},
		{name: "dup code", src: "errors {\n 404 a\n 404 b\n}", wantErr: "Casketfile:3: errors: duplicate page for status 404"},
		{name: "dup star", src: "errors {\n * a\n * b\n}", wantErr: "duplicate entry for `*`"},
		{name: "dest twice", src: "errors a.log {\n log b.log\n}", wantErr: "given twice"},
		{name: "bad syslog", src: "errors syslog://x", wantErr: "Casketfile:1: errors: invalid syslog destination"},
		{name: "bad rotate", src: "errors {\n rotate_age x\n}", wantErr: "Casketfile:2: errors: rotate_age"},
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
			if got := mw(nil).(*Handler).Config; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}
