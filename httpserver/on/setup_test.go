package on

import (
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/internal/testutil"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    Command
		wantErr string
	}{
		{name: "startup", src: "on startup /usr/bin/echo hi", want: Command{Event: "startup", Name: "/usr/bin/echo", Args: []string{"hi"}}},
		{name: "no args", src: "on shutdown sync", want: Command{Event: "shutdown", Name: "sync", Args: []string{}}},
		{name: "background", src: "on startup php-fpm -F &", want: Command{Event: "startup", Name: "php-fpm", Args: []string{"-F"}, Background: true}},
		{name: "quoted ampersand is an argument", src: `on startup echo "&"`, want: Command{Event: "startup", Name: "echo", Args: []string{"&"}}},
		{name: "quoted tokens kept whole", src: `on certrenew sh -c "echo {cert_name} >> /tmp/x"`,
			want: Command{Event: "certrenew", Name: "sh", Args: []string{"-c", "echo {cert_name} >> /tmp/x"}}},
		{name: "single string split", src: `on startup "php-fpm --nodaemonize 'a b'"`,
			want: Command{Event: "startup", Name: "php-fpm", Args: []string{"--nodaemonize", "a b"}}},
		{name: "single string background", src: `on startup "worker --x &"`,
			want: Command{Event: "startup", Name: "worker", Args: []string{"--x"}, Background: true}},
		{name: "no event", src: "on", wantErr: "expected an event"},
		{name: "bad event", src: "on restart echo", wantErr: `unknown event "restart"`},
		{name: "no command", src: "on startup", wantErr: "expected a command"},
		{name: "only ampersand", src: "on startup &", wantErr: "expected a command"},
		{name: "unterminated quote", src: `on startup "echo 'a b"`, wantErr: "unterminated ' quote"},
		{name: "block", src: "on startup echo {\n x\n}", wantErr: "takes no block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(testutil.Dispenser(t, tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Where == "" {
				t.Error("Where is empty")
			}
			got.Where = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("ON_TEST_SET", "value")
	t.Setenv("ON_TEST_EMPTY", "")
	vars := map[string]string{"cert_name": "example.com"}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"{$ON_TEST_SET}", "value"},
		{"x{$ON_TEST_UNSET}y", "xy"},
		{"{$ON_TEST_UNSET=def}", "def"},
		{"{$ON_TEST_EMPTY=def}", "def"},
		{"{$ON_TEST_SET=def}", "value"},
		{"{event}:{cert_name}", "certrenew:example.com"},
		{"{unknown} {", "{unknown} {"},
	}
	for _, tt := range tests {
		if got := expand(tt.in, "certrenew", vars); got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
