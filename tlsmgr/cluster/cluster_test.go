package cluster_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/storagetest"
)

func TestFileConformance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storagetest.Run(t, storagetest.Harness{
		New:       func(*testing.T) certmagic.Storage { return &certmagic.FileStorage{Path: dir} },
		SlowLocks: true,
	})
}

func TestEncryptedFileConformance(t *testing.T) {
	dir := t.TempDir()
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) certmagic.Storage {
			e, err := cluster.NewEncrypted(&certmagic.FileStorage{Path: dir}, []byte("0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		NoLocks: true,
	})
}

func TestEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	fs := &certmagic.FileStorage{Path: dir}
	e, err := cluster.NewEncrypted(fs, []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secret := "-----BEGIN EC PRIVATE KEY-----"
	if err := e.Store(ctx, "k/site.key", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "k", "site.key"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "PRIVATE") {
		t.Fatal("the stored value is plaintext")
	}
	// a value moved to another key does not decrypt
	if err := fs.Store(ctx, "k/other.key", raw); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(ctx, "k/other.key"); err == nil {
		t.Error("a sealed value copied to another key decrypted")
	}
	wrong, _ := cluster.NewEncrypted(fs, []byte("fedcba9876543210"))
	if _, err := wrong.Load(ctx, "k/site.key"); err == nil {
		t.Error("a value decrypted under the wrong key")
	}
	if err := fs.Store(ctx, "k/plain", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(ctx, "k/plain"); err == nil {
		t.Error("a plaintext value was accepted")
	}
}

func TestParseAESKey(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int
		wantErr bool
	}{
		{name: "16 chars", in: "0123456789abcdef", wantLen: 16},
		{name: "32 chars", in: "0123456789abcdef0123456789abcdef", wantLen: 32},
		{name: "base64 of 32", in: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", wantLen: 32},
		{name: "too short", in: "short", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := cluster.ParseAESKey(tt.in)
			if (err != nil) != tt.wantErr || len(k) != tt.wantLen {
				t.Errorf("ParseAESKey = %d bytes, %v; want %d bytes, error %v", len(k), err, tt.wantLen, tt.wantErr)
			}
		})
	}
}

func TestInstanceID(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "uuid")
	a, err := cluster.InstanceID(file)
	if err != nil || a == "" {
		t.Fatalf("InstanceID = %q, %v", a, err)
	}
	b, err := cluster.InstanceID(file)
	if err != nil || b != a {
		t.Errorf("second InstanceID = %q, %v; want %q", b, err, a)
	}
	x, _ := cluster.InstanceID("")
	y, _ := cluster.InstanceID("")
	if x == y || x == "" {
		t.Errorf("random ids %q and %q", x, y)
	}
}

func TestListKeys(t *testing.T) {
	keys := []string{"a/b/c", "a/b/d", "a/e"}
	tests := []struct {
		name      string
		dir       string
		recursive bool
		want      string
	}{
		{name: "flat", dir: "a", want: "a/b a/e"},
		{name: "recursive", dir: "a", recursive: true, want: "a/b a/b/c a/b/d a/e"},
		{name: "root", dir: "", want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(cluster.ListKeys(tt.dir, keys, tt.recursive), " "); got != tt.want {
				t.Errorf("ListKeys = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEncryptedLockHolderWithoutInspector(t *testing.T) {
	e, err := cluster.NewEncrypted(&certmagic.FileStorage{Path: t.TempDir()}, []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := e.LockHolder(context.Background(), "x"); err == nil || ok {
		t.Errorf("LockHolder over file storage = %v, %v; want an error", ok, err)
	}
}
