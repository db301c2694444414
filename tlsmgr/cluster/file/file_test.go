package file_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/file"
	"github.com/casketserver/casket/tlsmgr/cluster/storagetest"
)

func newClient(t *testing.T, dir, holder string) *file.Storage {
	t.Helper()
	s, err := file.New(dir, file.Options{Lock: cluster.LockOptions{
		Holder: holder, TTL: time.Second, RenewEvery: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) certmagic.Storage { return newClient(t, dir, "") },
		Lease: &storagetest.LeaseHarness{
			TTL:     time.Second,
			Abandon: func(s certmagic.Storage) { s.(*file.Storage).Abandon() },
			Expire: func(t *testing.T, s certmagic.Storage, name string) {
				if err := s.(*file.Storage).ExpireLock(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			},
		},
	})
}

func TestConformanceEncrypted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) certmagic.Storage {
			e, err := cluster.NewEncrypted(newClient(t, dir, ""), []byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		NoLocks: true,
	})
}

func TestLockHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := newClient(t, dir, "node-a"), newClient(t, dir, "node-b")
	storagetest.LockHolder(t, a, b, "node-a", "node-b", time.Second, a.Abandon)
}

// TestCompatible shows that the folder layout is certmagic's FileStorage's: each reads what the other
// wrote, and the lock files do not show up among the certificates.
func TestCompatible(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	old := &certmagic.FileStorage{Path: dir}
	s := newClient(t, dir, "")
	if err := old.Store(ctx, "certificates/ca/a.example/a.example.crt", []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock(ctx, cluster.IssueLockPrefix+"b.example"); err != nil {
		t.Fatal(err)
	}
	if err := s.Store(ctx, "certificates/ca/b.example/b.example.crt", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "certificates/ca/a.example/a.example.crt"); err != nil || string(got) != "old" {
		t.Errorf("Load of FileStorage's file = %q, %v", got, err)
	}
	if got, err := old.Load(ctx, "certificates/ca/b.example/b.example.crt"); err != nil || string(got) != "new" {
		t.Errorf("FileStorage's Load of our file = %q, %v", got, err)
	}
	keys, err := s.List(ctx, "certificates", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "lock") || strings.Contains(k, "lease") {
			t.Errorf("List(certificates) includes lock file %s", k)
		}
	}
	if _, err := s.Load(ctx, "certificates/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	if err := s.Unlock(ctx, cluster.IssueLockPrefix+"b.example"); err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "file:"+dir {
		t.Errorf("String() = %q", got)
	}
}

// TestUnreadableLease shows that a damaged lease file does not block its lock forever.
func TestUnreadableLease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := newClient(t, dir, "a"), newClient(t, dir, "b")
	ctx := context.Background()
	if err := a.Lock(ctx, "damaged"); err != nil {
		t.Fatal(err)
	}
	fence, _ := a.Fence("damaged")
	a.Abandon()
	matches, _ := filepath.Glob(filepath.Join(dir, "locks", "damaged.*.lease"))
	if len(matches) != 1 {
		t.Fatalf("lease files %q, want one", matches)
	}
	if err := os.WriteFile(matches[0], []byte(`{"holder":"a","tok`), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "damaged"); !ok || err != nil {
		t.Fatalf("TryLock of a damaged lease = %v, %v; want it taken", ok, err)
	}
	if f, _ := b.Fence("damaged"); f <= fence {
		t.Errorf("fencing token %d after %d", f, fence)
	}
}

// TestUnreadableFenceCounter shows that a damaged counter never hands out a smaller fencing token.
func TestUnreadableFenceCounter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newClient(t, dir, "")
	ctx := context.Background()
	if err := s.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Fence("x")
	if err := os.WriteFile(filepath.Join(dir, "locks", ".fence"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Fence("y"); after <= before {
		t.Errorf("fencing token %d after %d", after, before)
	}
}

// TestLockFolderRemoved shows that locking works again after someone deletes the locks folder.
func TestLockFolderRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newClient(t, dir, "")
	if err := os.RemoveAll(filepath.Join(dir, "locks")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

// TestLockNames shows that lock names that certmagic.StorageKeys.Safe would merge, and names too long for
// a file name, are separate locks.
func TestLockNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := newClient(t, dir, "a"), newClient(t, dir, "b")
	ctx := context.Background()
	long := strings.Repeat("label63.", 40) + "example"
	tests := []struct{ name, other string }{
		{name: "issue_cert_*.example.com", other: "issue_cert_wildcard_.example.com"},
		{name: "issue_cert_A.example", other: "issue_cert_a.example"},
		{name: "x/../y", other: "x/y"},
		{name: "a b", other: "a_b"},
		{name: long + "1", other: long + "2"},
		{name: "", other: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Lock(ctx, tt.name); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.TryLock(ctx, tt.other); !ok || err != nil {
				t.Errorf("TryLock(%q) while %q is held = %v, %v; want a separate lock", tt.other, tt.name, ok, err)
			}
			if ok, err := b.TryLock(ctx, tt.name); ok || err != nil {
				t.Errorf("TryLock(%q) of a held lock = %v, %v", tt.name, ok, err)
			}
			if h, _, ok, err := b.LockHolder(ctx, tt.name); !ok || err != nil || h != "a" {
				t.Errorf("LockHolder(%q) = %q, %v, %v", tt.name, h, ok, err)
			}
			_ = a.Unlock(ctx, tt.name)
			_ = b.Unlock(ctx, tt.other)
		})
	}
}
