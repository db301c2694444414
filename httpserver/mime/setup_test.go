package mime

import (
	"maps"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name         string
		src          string
		want         map[string]string
		wantDefaults bool
		wantErr      string
	}{
		{name: "one", src: "mime .swf application/x-shockwave-flash", want: map[string]string{".swf": "application/x-shockwave-flash"}},
		{name: "upper-case extension", src: "mime .PDF application/pdf", want: map[string]string{".pdf": "application/pdf"}},
		{name: "block", src: "mime {\n .swf application/x-shockwave-flash\n .pdf application/pdf\n}",
			want: map[string]string{".swf": "application/x-shockwave-flash", ".pdf": "application/pdf"}},
		{name: "defaults", src: "mime ext_defaults", want: map[string]string{}, wantDefaults: true},
		{name: "defaults in block", src: "mime {\n ext_defaults\n .foo text/x-foo\n}", want: map[string]string{".foo": "text/x-foo"}, wantDefaults: true},
		{name: "twice", src: "mime .a x/a\nmime .b x/b", want: map[string]string{".a": "x/a", ".b": "x/b"}},
		{name: "quoted type with parameter", src: `mime .txt "text/plain; charset=latin1"`, want: map[string]string{".txt": "text/plain; charset=latin1"}},
		{name: "nothing", src: "mime", wantErr: "Casketfile:1: mime: expected `mime .ext type`"},
		{name: "empty block", src: "mime {\n}", wantErr: "mime: expected `mime .ext type`"},
		{name: "no dot", src: "mime swf application/x-shockwave-flash", wantErr: `Casketfile:1: mime: invalid extension "swf"`},
		{name: "only dot", src: "mime . x/y", wantErr: `Casketfile:1: mime: invalid extension "."`},
		{name: "no type", src: "mime .swf", wantErr: "Casketfile:1: mime: expected `.ext type`, got 1 arguments"},
		{name: "three args", src: "mime .a x/y z", wantErr: "Casketfile:1: mime: expected `.ext type`, got 3 arguments"},
		{name: "bad type", src: "mime .a text", wantErr: `Casketfile:1: mime: invalid media type "text" for .a`},
		{name: "defaults with arg", src: "mime ext_defaults yes", wantErr: "Casketfile:1: mime: ext_defaults takes no arguments"},
		{name: "duplicate", src: "mime {\n .a x/a\n .A x/b\n}", wantErr: `Casketfile:3: mime: duplicate extension ".A"`},
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
			cfg := mw(nil).(*Mime).Config
			if !maps.Equal(cfg.Types, tt.want) || cfg.Defaults != tt.wantDefaults {
				t.Fatalf("config = %v %v, want %v %v", cfg.Types, cfg.Defaults, tt.want, tt.wantDefaults)
			}
		})
	}
}
