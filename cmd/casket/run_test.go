package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNormalizeArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "single dash with value", args: []string{"-conf", "x"}, want: []string{"--conf", "x"}},
		{name: "single dash equals", args: []string{"-conf=x"}, want: []string{"--conf=x"}},
		{name: "double dash kept", args: []string{"--conf", "x"}, want: []string{"--conf", "x"}},
		{name: "value starting with dash untouched", args: []string{"-root", "-dir"}, want: []string{"--root", "-dir"}},
		{name: "bool takes no value", args: []string{"-quiet", "browse"}, want: []string{"--quiet", "browse"}},
		{name: "bool false", args: []string{"-agree=false"}, want: []string{"--agree=false"}},
		{name: "stops at positional", args: []string{"-port", "80", "browse", "-conf"}, want: []string{"--port", "80", "browse", "-conf"}},
		{name: "stops at double dash", args: []string{"--", "-conf"}, want: []string{"--", "-conf"}},
		{name: "shorthand help", args: []string{"-h"}, want: []string{"-h"}},
		{name: "unknown stays an error", args: []string{"-nope"}, want: []string{"--nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlagSet(&config{}, &bytes.Buffer{})
			if got := normalizeArgs(fs, tt.args); !slices.Equal(got, tt.want) {
				t.Errorf("normalizeArgs(%q) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(*config) bool
		wantErr string
	}{
		{name: "defaults", args: nil, check: func(c *config) bool {
			return c.Agree && c.Port == "2015" && c.Root == "." && c.Grace == 5*time.Second && c.HTTP2 &&
				c.LogRollMB == 100 && c.LogRollCompress && c.LogTimestamps && c.CPU == "100%" && c.Type == "http" &&
				c.HTTPPort == "80" && c.HTTPSPort == "443" && c.CATimeout == 30*time.Second && !c.PortSet
		}},
		{name: "all value flags single dash", args: []string{"-ca", "https://ca/dir", "-catimeout", "10s", "-conf", "C",
			"-cpu", "50%", "-default-sni", "d", "-email", "e@x", "-envfile", "ef", "-grace", "1s", "-host", "h",
			"-http-port", "8080", "-https-port", "8443", "-log", "stderr", "-log-roll-mb", "5", "-pidfile", "p",
			"-port", "9000", "-revoke", "r", "-root", "/srv", "-type", "http", "--log-format", "json", "--log-level", "debug"},
			check: func(c *config) bool {
				return c.CA == "https://ca/dir" && c.CATimeout == 10*time.Second && c.Conf == "C" && c.CPU == "50%" &&
					c.DefaultSNI == "d" && c.Email == "e@x" && c.EnvFile == "ef" && c.Grace == time.Second && c.Host == "h" &&
					c.HTTPPort == "8080" && c.HTTPSPort == "8443" && c.Log == "stderr" && c.LogRollMB == 5 && c.PidFile == "p" &&
					c.Port == "9000" && c.PortSet && c.Revoke == "r" && c.Root == "/srv" && c.LogFormat == "json" && c.LogLevel == "debug"
			}},
		{name: "all bool flags", args: []string{"-agree=false", "-disable-http-challenge", "-disable-tls-alpn-challenge",
			"-env", "-fmt", "-http2=false", "-log-roll-compress=false", "-log-timestamps=false", "-plugins", "-quic",
			"-quiet", "-validate", "-version"},
			check: func(c *config) bool {
				return !c.Agree && c.DisableHTTPChallenge && c.DisableTLSALPNChallenge && c.Env && c.Fmt && !c.HTTP2 &&
					!c.LogRollCompress && !c.LogTimestamps && c.Plugins && c.QUIC && c.Quiet && c.Validate && c.Version
			}},
		{name: "equals form", args: []string{"-conf=a b", "--port=81"}, check: func(c *config) bool { return c.Conf == "a b" && c.Port == "81" }},
		{name: "shorthand args", args: []string{"-port", "8080", "browse", "log stdout"}, check: func(c *config) bool {
			return slices.Equal(c.Args, []string{"browse", "log stdout"})
		}},
		{name: "bool then false is a shorthand line", args: []string{"-agree", "false"}, check: func(c *config) bool {
			return c.Agree && slices.Equal(c.Args, []string{"false"})
		}},
		{name: "unknown flag", args: []string{"-bogus"}, wantErr: "unknown flag: --bogus"},
		{name: "missing value", args: []string{"-conf"}, wantErr: "flag needs an argument"},
		{name: "bad duration", args: []string{"-grace", "soon"}, wantErr: "invalid argument"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "invalid -log-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out bytes.Buffer
		if _, err := parseFlags([]string{arg}, &out); !errors.Is(err, errHelp) {
			t.Errorf("%s: err = %v, want errHelp", arg, err)
		}
		if !strings.Contains(out.String(), "--conf") {
			t.Errorf("%s: usage lacks --conf:\n%s", arg, out.String())
		}
	}
}

func TestLoader(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conf := write("my.conf", "localhost:1\n")
	emptyDir := t.TempDir()
	withDefault := t.TempDir()
	if err := os.WriteFile(filepath.Join(withDefault, "Casketfile"), []byte("cwd:3\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		c          config
		stdin      string
		pipe       bool
		dir        string
		wantOrigin string
		wantBody   string
		wantErr    string
	}{
		{name: "conf file", c: config{Conf: conf, Port: "2015"}, dir: emptyDir, wantOrigin: "-conf", wantBody: "localhost:1\n"},
		{name: "conf missing", c: config{Conf: filepath.Join(dir, "nope"), Port: "2015"}, dir: emptyDir, wantErr: "reading Casketfile"},
		{name: "stdin pipe", c: config{Conf: "stdin", Port: "2015"}, stdin: "piped:2\n", pipe: true, dir: emptyDir, wantOrigin: "stdin", wantBody: "piped:2\n"},
		{name: "stdin tty falls back to ./Casketfile", c: config{Conf: "stdin", Port: "2015"}, dir: withDefault, wantOrigin: "Casketfile", wantBody: "cwd:3\n"},
		{name: "stdin tty with args is no conflict", c: config{Conf: "stdin", Port: "2015", Args: []string{"browse"}}, dir: emptyDir, wantOrigin: "args", wantBody: ":2015\nbrowse\n"},
		{name: "glob", c: config{Conf: "sites/*.conf", Port: "2015"}, dir: dir, wantOrigin: "glob",
			wantBody: "import " + `"` + filepath.Join(dir, "sites/*.conf") + `"` + "\n"},
		{name: "shorthand", c: config{Port: "8080", Args: []string{"browse", "log stdout"}}, dir: withDefault, wantOrigin: "args", wantBody: ":8080\nbrowse\nlog stdout\n"},
		{name: "shorthand keeps explicit port with host", c: config{Host: "example.com", Port: "2015", Args: []string{"browse"}}, dir: emptyDir, wantOrigin: "args", wantBody: "example.com:2015\nbrowse\n"},
		{name: "conf and args conflict", c: config{Conf: conf, Port: "2015", Args: []string{"browse"}}, dir: emptyDir, wantErr: "Casketfile loaded multiple times"},
		{name: "cwd Casketfile", c: config{Port: "2015"}, dir: withDefault, wantOrigin: "Casketfile", wantBody: "cwd:3\n"},
		{name: "default site", c: config{Port: "2015"}, dir: emptyDir, wantOrigin: "default", wantBody: ":2015\n"},
		{name: "default site with host", c: config{Host: "example.com", Port: "2015"}, dir: emptyDir, wantOrigin: "default", wantBody: "example.com\n"},
		{name: "default site with host and port", c: config{Host: "localhost", Port: "9000", PortSet: true}, dir: emptyDir, wantOrigin: "default", wantBody: "localhost:9000\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			ld := &loader{c: &c, stdin: strings.NewReader(tt.stdin), stdinIsPipe: tt.pipe, dir: tt.dir}
			src, err := ld.load()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src.Origin != tt.wantOrigin || string(src.Body) != tt.wantBody {
				t.Errorf("got origin %q body %q, want %q %q", src.Origin, src.Body, tt.wantOrigin, tt.wantBody)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{name: "crlf and indentation", in: "  A=1\r\n\r\n\tB=2\r\n", want: map[string]string{"A": "1", "B": "2"}},
		{name: "ok", in: "# comment\nA=1\n\nB=x=y\nC=\n", want: map[string]string{"A": "1", "B": "x=y", "C": ""}},
		{name: "no equals", in: "A=1\nBROKEN\n", wantErr: "env:2: expected KEY=VALUE"},
		{name: "space in key", in: "MY KEY=1\n", wantErr: "env:1: invalid variable name"},
		{name: "empty key", in: "=1\n", wantErr: "invalid variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			err := parseEnv(strings.NewReader(tt.in), "env", func(k, v string) error { got[k] = v; return nil })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCPU(t *testing.T) {
	tests := []struct {
		in      string
		numCPU  int
		want    int
		wantErr bool
	}{
		{in: "100%", numCPU: 8, want: 8},
		{in: "50%", numCPU: 8, want: 4},
		{in: "1%", numCPU: 8, want: 1},
		{in: "2", numCPU: 8, want: 2},
		{in: "64", numCPU: 8, want: 8},
		{in: "0", numCPU: 8, wantErr: true},
		{in: "0%", numCPU: 8, wantErr: true},
		{in: "101%", numCPU: 8, wantErr: true},
		{in: "lots", numCPU: 8, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseCPU(tt.in, tt.numCPU)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("parseCPU(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	envfile := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(envfile, []byte("NOPE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CASKETPATH", filepath.Join(dir, "casket"))
	ca := newTestCA(t, dir)
	mtlsConf := filepath.Join(dir, "mtls.Casketfile")
	if err := os.WriteFile(mtlsConf, []byte("mtls.test {\n\ttls self_signed {\n\t\tclients "+ca.file+"\n\t}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"-version"}, want: 0, wantStdout: "Casket "},
		{name: "plugins", args: []string{"-plugins"}, want: 0, wantStdout: "Storage backends (CASKET_CLUSTERING):\n  file\n  redis\n  postgres\n"},
		{name: "help", args: []string{"-h"}, want: 0},
		{name: "bad flag", args: []string{"-nope"}, want: 2, wantStderr: "unknown flag"},
		{name: "revoke unmanaged", args: []string{"-revoke", "example.com"}, want: 1, wantStderr: `"example.com" is not a managed certificate`},
		{name: "quic with client certificates", args: []string{"-quic", "-validate", "-conf", mtlsConf}, want: 1,
			wantStderr: "mtls.Casketfile:1: site mtls.test cannot be served with -quic: it requires client certificates (tls { clients })"},
		{name: "unknown type", args: []string{"-type", "dns"}, want: 1, wantStderr: "unknown server type"},
		{name: "bad cpu", args: []string{"-cpu", "0"}, want: 1, wantStderr: "invalid -cpu"},
		{name: "bad envfile", args: []string{"-envfile", envfile}, want: 1, wantStderr: "expected KEY=VALUE"},
		{name: "missing conf", args: []string{"-validate", "-conf", filepath.Join(dir, "missing")}, want: 1, wantStderr: "reading Casketfile"},
		{name: "conf and args", args: []string{"-validate", "-conf", envfile, "browse"}, want: 1, wantStderr: "loaded multiple times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(t.Context(), tt.args, nil, &stdout, &stderr)
			if got != tt.want {
				t.Errorf("exit = %d, want %d; stderr: %s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestRunValidateAndFmt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("localhost:2015 {\nroot .\n   header / X-A b\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("localhost:2015 {\n\troot .\n\tnosuch directive\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{name: "valid", args: []string{"-validate", "-conf", good}, want: 0, wantStdout: "Casketfile is valid\n"},
		{name: "invalid", args: []string{"-validate", "-conf", bad}, want: 1, wantStderr: bad + ":3: unknown directive \"nosuch\""},
		{name: "fmt", args: []string{"-fmt", "-conf", good}, want: 0, wantStdout: "\theader / X-A b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(t.Context(), tt.args, nil, &stdout, &stderr); got != tt.want {
				t.Errorf("exit = %d, want %d; stderr %s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stdout %q stderr %q, want %q / %q", stdout.String(), stderr.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

// TestRunServeUntilCancelled serves in-process and stops when the context ends, like TERM.
func TestRunServeUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-root", dir, "-quiet", "-host", host, "-port", port, "header / X-In-Process yes"}, nil, &stdout, &stderr)
	}()
	var resp *http.Response
	for i := 0; i < 200; i++ {
		if resp, err = http.Get("http://" + addr + "/hello.txt"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("never served: %v; stderr %s", err, stderr.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-In-Process") != "yes" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(stdout.String(), "http://"+addr) {
		t.Errorf("site list = %q", stdout.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit = %d, want 0; stderr %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
