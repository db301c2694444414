package main

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestWarnFileLimit(t *testing.T) {
	tests := []struct {
		name  string
		soft  uint64
		known bool
		sites int
		want  bool
	}{
		{name: "ample", soft: 65536, known: true, sites: 100, want: false},
		{name: "exactly enough", soft: 1024 + 16*10, known: true, sites: 10, want: false},
		{name: "one short", soft: 1024 + 16*10 - 1, known: true, sites: 10, want: true},
		{name: "classic 1024 with sites", soft: 1024, known: true, sites: 1, want: true},
		{name: "unknown limit", soft: 0, known: false, sites: 1000, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			var stderr strings.Builder
			got := warnFileLimit(zap.New(core), &stderr, tt.sites, func() (uint64, bool) { return tt.soft, tt.known })
			if got != tt.want {
				t.Fatalf("warned = %v, want %v", got, tt.want)
			}
			if !tt.want {
				if logs.Len() != 0 || stderr.Len() != 0 {
					t.Fatalf("unexpected warning: %v %q", logs.All(), stderr.String())
				}
				return
			}
			e := logs.All()[0]
			f := e.ContextMap()
			if f["limit"] != tt.soft || f["recommended"] != wantFiles(tt.sites) {
				t.Errorf("fields = %v", f)
			}
			if want := "LimitNOFILE="; !strings.Contains(e.Message, want) || !strings.Contains(stderr.String(), want) {
				t.Errorf("message %q / %q does not say how to raise the limit (%s)", e.Message, stderr.String(), want)
			}
		})
	}
}
