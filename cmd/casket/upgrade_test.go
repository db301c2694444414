//go:build !windows

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startWatched starts name with the write end of a pipe as fd 3, as spawnSuccessor does.
func startWatched(t *testing.T, name string, args ...string) (*os.File, *exec.Cmd, chan error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { r.Close(); _ = cmd.Process.Kill() })
	return r, cmd, exited
}

func TestAwaitReady(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		wantErr string
	}{
		{name: "reports ok", script: "printf 'ok\\n' >&3; sleep 5"},
		{name: "exits without a word", script: "exit 1", wantErr: "failed to start"},
		{name: "says nothing in time", script: "sleep 5", wantErr: "did not report serving"},
		{name: "says something else", script: "printf 'no\\n' >&3; exit 0", wantErr: "failed to start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, cmd, exited := startWatched(t, "sh", "-c", tt.script)
			start := time.Now()
			err := awaitReady(r, exited, cmd.Process, 300*time.Millisecond)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestUpgradeEnviron(t *testing.T) {
	got := upgradeEnviron([]string{"A=1", envUpgrade + "=1", envUpgradeAddrs + "=:80", "B=2"})
	if strings.Join(got, " ") != "A=1 B=2" {
		t.Errorf("got %v", got)
	}
}
