package encode

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
		want    Config
		wantErr string
	}{
		{name: "bare", src: "gzip", want: Config{Level: 6}},
		{name: "block", src: "gzip {\n ext .HTML .css\n not /images /videos\n level 9\n min_length 512\n}",
			want: Config{Exts: []string{".html", ".css"}, Not: []string{"/images", "/videos"}, Level: 9, MinLength: 512}},
		{name: "ext empty", src: "gzip {\n ext .html \"\"\n}", want: Config{Exts: []string{".html", ""}, Level: 6}},
		{name: "not root", src: "gzip {\n not /\n}", wantErr: "Casketfile:2: gzip: not: excluding / disables compression"},
		{name: "ext star", src: "gzip {\n ext .html *\n}", want: Config{Level: 6}},
		{name: "args", src: "gzip 5", wantErr: "Casketfile:1: gzip: takes no arguments"},
		{name: "ext none", src: "gzip {\n ext\n}", wantErr: "Casketfile:2: gzip: ext: expected one or more extensions"},
		{name: "ext no dot", src: "gzip {\n ext html\n}", wantErr: `ext: "html" must start with a dot`},
		{name: "not none", src: "gzip {\n not\n}", wantErr: "not: expected one or more paths"},
		{name: "not relative", src: "gzip {\n not img\n}", wantErr: `not: path "img" must start with /`},
		{name: "level missing", src: "gzip {\n level\n}", wantErr: "level: expected one number from 1 to 9"},
		{name: "level range", src: "gzip {\n level 10\n}", wantErr: `Casketfile:2: gzip: level: "10" is not a number from 1 to 9`},
		{name: "level zero", src: "gzip {\n level 0\n}", wantErr: "is not a number from 1 to 9"},
		{name: "min_length bad", src: "gzip {\n min_length -1\n}", wantErr: "min_length: \"-1\" is not a non-negative number"},
		{name: "min_length args", src: "gzip {\n min_length 1 2\n}", wantErr: "min_length: expected one number"},
		{name: "unknown", src: "gzip {\n lvl 3\n}", wantErr: `Casketfile:2: gzip: unknown subdirective "lvl"`},
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
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", ""},
		{"identity", ""},
		{"gzip", "gzip"},
		{"x-gzip", "gzip"},
		{"gzip, deflate, br", "br"},
		{"gzip, deflate, br, zstd", "zstd"},
		{"GZIP;q=0.5, br;q=0.8", "br"},
		{"zstd;q=0.1, gzip", "gzip"},
		{"br;q=0, gzip;q=0", ""},
		{"*", "zstd"},
		{"*;q=0.3, gzip;q=0.5", "gzip"},
		{"*, zstd;q=0", "br"},
		{"gzip;q=abc", ""},
		{"gzip;q=2", ""},
		{"deflate", ""},
		{" br ; q=1.0 ", "br"},
	}
	for _, tt := range tests {
		if got := negotiate(tt.header); got != tt.want {
			t.Errorf("negotiate(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}
