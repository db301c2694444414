package fastcgi

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/testutil"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    *Config
		wantErr string
	}{
		{
			name: "minimal",
			src:  "fastcgi / 127.0.0.1:9000",
			want: &Config{Path: "/", Endpoints: []Endpoint{{"tcp", "127.0.0.1:9000"}},
				ConnectTimeout: time.Minute, ReadTimeout: time.Minute, SendTimeout: time.Minute},
		},
		{
			name: "php preset",
			src:  "fastcgi / localhost:9000 php",
			want: &Config{Path: "/", Endpoints: []Endpoint{{"tcp", "localhost:9000"}}, Ext: ".php", Split: []string{".php"},
				IndexFiles: []string{"index.php"}, ConnectTimeout: time.Minute, ReadTimeout: time.Minute, SendTimeout: time.Minute},
		},
		{
			name: "block overrides the preset",
			src: `fastcgi /app unix:/run/php/fpm.sock php {
				root /srv/www
				ext .php5
				split .php5 .phtml
				index app.php
				env APP_ENV production
				env HOST {host}
				except /app/static
				upstream tcp://10.0.0.2:9000 unix:///run/b.sock
				connect_timeout 2s
				read_timeout 3s
				send_timeout 4s
			}`,
			want: &Config{Path: "/app",
				Endpoints: []Endpoint{{"unix", "/run/php/fpm.sock"}, {"tcp", "10.0.0.2:9000"}, {"unix", "/run/b.sock"}},
				Root:      "/srv/www", Ext: ".php5", Split: []string{".php5", ".phtml"}, IndexFiles: []string{"app.php"},
				Env:    [][2]string{{"APP_ENV", "production"}, {"HOST", "{host}"}},
				Except: []string{"/app/static"}, ConnectTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, SendTimeout: 4 * time.Second},
		},
		{name: "no endpoint", src: "fastcgi /", wantErr: "want `fastcgi path endpoint [php]`, got 1 arguments"},
		{name: "unknown preset", src: "fastcgi / a:1 python", wantErr: `unknown preset "python"`},
		{name: "bad endpoint", src: "fastcgi / localhost", wantErr: `endpoint "localhost": want host:port`},
		{name: "empty socket", src: "fastcgi / unix:", wantErr: "needs a socket path"},
		{name: "unknown option", src: "fastcgi / a:1 {\n rooot /x\n}", wantErr: `Casketfile:2: fastcgi: unknown option "rooot"`},
		{name: "bad timeout", src: "fastcgi / a:1 {\n read_timeout forever\n}", wantErr: `read_timeout: invalid duration "forever"`},
		{name: "env arity", src: "fastcgi / a:1 {\n env A\n}", wantErr: "env takes a name and a value"},
		{name: "ext without dot", src: "fastcgi / a:1 {\n ext php\n}", wantErr: "ext must start with a dot"},
		{name: "root arity", src: "fastcgi / a:1 {\n root a b\n}", wantErr: "root takes one argument, got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(testutil.Dispenser(t, tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
