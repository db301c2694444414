package dnsconf

import (
	"io/fs"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	files := map[string]string{"/run/secrets/token": "from-file\n"}
	read := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
	tests := []struct {
		name    string
		env     map[string]string
		opts    map[string]string
		want    string
		wantErr string
	}{
		{name: "env", env: map[string]string{"X_TOKEN": "e"}, want: "e"},
		{name: "second variable", env: map[string]string{"Y_TOKEN": "y"}, want: "y"},
		{name: "env file", env: map[string]string{"X_TOKEN_FILE": "/run/secrets/token"}, want: "from-file"},
		{name: "block option wins", env: map[string]string{"X_TOKEN": "e"}, opts: map[string]string{"token": "b"}, want: "b"},
		{name: "block by variable name", opts: map[string]string{"X_TOKEN": "v"}, want: "v"},
		{name: "block file", opts: map[string]string{"token_file": "/run/secrets/token"}, want: "from-file"},
		{name: "missing", wantErr: "dns test: missing credentials or settings: set X_TOKEN or X_TOKEN_FILE or Y_TOKEN or Y_TOKEN_FILE, or 'token' in the dns block"},
		{name: "unreadable file", env: map[string]string{"X_TOKEN_FILE": "/nope"}, wantErr: "X_TOKEN_FILE: reading /nope: file does not exist"},
		{name: "unknown option", env: map[string]string{"X_TOKEN": "e"}, opts: map[string]string{"colour": "secret-blue"}, wantErr: "unknown option(s) in the dns block: colour"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Provider: "test", Options: tc.opts, ReadFile: read,
				LookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			r := c.Reader()
			got := r.Required("token", "X_TOKEN", "Y_TOKEN")
			err := r.Err()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret-blue") {
					t.Errorf("error leaks a value: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestOptionalAndInvalid(t *testing.T) {
	r := Config{Provider: "p", LookupEnv: func(string) (string, bool) { return "", false }}.Reader()
	if v := r.Optional("zone", "def", "DNS_ZONE"); v != "def" {
		t.Errorf("Optional = %q", v)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	r.Invalid("DNS_ZONE", "not a zone")
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "invalid settings: DNS_ZONE: not a zone") {
		t.Errorf("err = %v", err)
	}
}
