package tlsmgr

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStoragePath(t *testing.T) {
	tests := []struct {
		name             string
		casketPath, home string
		want             string
	}{
		{name: "CASKETPATH wins", casketPath: "/srv/casket", home: "/home/u", want: "/srv/casket"},
		{name: "home", home: "/home/u", want: filepath.Join("/home/u", ".casket")},
		{name: "neither", want: ".casket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CASKETPATH", tt.casketPath)
			t.Setenv("HOME", tt.home)
			if got := StoragePath(); got != tt.want {
				t.Errorf("StoragePath() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrepareStorage(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "a", ".casket")
	if err := prepareStorage(fresh); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareStorage(open); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{fresh, open} {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s: mode %o, want 700", dir, perm)
		}
	}
}
