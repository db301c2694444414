package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestNewLogger(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		c        config
		toStdout bool
		file     string
		want     []string // substrings of the output
		notWant  []string
		wantErr  string
	}{
		{name: "discard by default", c: config{LogLevel: "info", LogFormat: "console", LogTimestamps: true}},
		{name: "stdout console", c: config{Log: "stdout", LogLevel: "info", LogFormat: "console", LogTimestamps: true}, toStdout: true,
			want: []string{"INFO\tshown\t{\"k\": \"v\"}"}, notWant: []string{"hidden"}},
		{name: "json without timestamps", c: config{Log: "stdout", LogLevel: "debug", LogFormat: "json"}, toStdout: true,
			want: []string{`{"level":"debug","msg":"hidden"}`, `"msg":"shown","k":"v"`}, notWant: []string{`"ts"`}},
		{name: "file without rotation", c: config{Log: filepath.Join(dir, "a", "plain.log"), LogLevel: "info", LogFormat: "json", LogTimestamps: true},
			file: filepath.Join(dir, "a", "plain.log"), want: []string{`"msg":"shown"`, `"ts":"`}},
		{name: "file with rotation", c: config{Log: filepath.Join(dir, "rot.log"), LogLevel: "warn", LogFormat: "json", LogRollMB: 1},
			file: filepath.Join(dir, "rot.log"), want: []string{`"msg":"warned"`}, notWant: []string{"shown"}},
		{name: "bad level", c: config{Log: "stdout", LogLevel: "loud", LogFormat: "json"}, wantErr: "invalid -log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := tt.c
			logger, closer, err := newLogger(&c, &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			logger.Debug("hidden")
			logger.Info("shown", zap.String("k", "v"))
			logger.Warn("warned")
			_ = logger.Sync()
			if err := closer.Close(); err != nil {
				t.Fatal(err)
			}
			out := stdout.String()
			if tt.file != "" {
				b, err := os.ReadFile(tt.file)
				if err != nil {
					t.Fatal(err)
				}
				out = string(b)
			}
			if !tt.toStdout && tt.file == "" && (stdout.Len() > 0 || stderr.Len() > 0) {
				t.Errorf("discarded log wrote %q %q", stdout.String(), stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}
