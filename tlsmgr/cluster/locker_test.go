package cluster

import (
	"context"
	"sync"
	"testing"
	"time"
)

// slowBackend is a LockBackend whose Acquire, like a request already sent to a server, takes the lock
// after a delay whether or not the caller is still waiting.
type slowBackend struct {
	delay time.Duration
	mu    sync.Mutex
	locks map[string]string // name → token
}

func (b *slowBackend) Acquire(_ context.Context, name, _, token string, _ time.Duration) (int64, bool, error) {
	time.Sleep(b.delay)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, taken := b.locks[name]; taken {
		return 0, false, nil
	}
	b.locks[name] = token
	return 1, true, nil
}

func (b *slowBackend) Extend(_ context.Context, name, token string, _ time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.locks[name] == token, nil
}

func (b *slowBackend) Release(_ context.Context, name, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks[name] == token {
		delete(b.locks, name)
	}
	return nil
}

// A Lock whose context ends while an acquisition is in flight must not leave that acquisition's lease
// behind: nobody would extend or release it, and the lock would stay taken until it expired.
func TestLockGivesBackLateAcquisition(t *testing.T) {
	b := &slowBackend{delay: 300 * time.Millisecond, locks: map[string]string{}}
	l := NewLocker(b, LockOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Lock(ctx, "x"); err == nil {
		t.Fatal("Lock succeeded after its context ended")
	}
	b.mu.Lock()
	left := len(b.locks)
	b.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d lock(s) left in the backend after a cancelled Lock", left)
	}
	if ok, err := l.TryLock(context.Background(), "x"); !ok || err != nil {
		t.Fatalf("TryLock after a cancelled Lock = %v, %v; want true", ok, err)
	}
	if err := l.Unlock(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
}

func TestGuardFor(t *testing.T) {
	b := &slowBackend{locks: map[string]string{}}
	l := NewLocker(b, LockOptions{})
	ctx := context.Background()
	for _, name := range []string{IssueLockPrefix + "a.example", IssueLockPrefix + "*.w.example", "other_lock"} {
		if err := l.Lock(ctx, name); err != nil {
			t.Fatal(err)
		}
		defer l.Unlock(ctx, name)
	}
	tests := []struct {
		key      string
		wantLock string // "" means not fenced
	}{
		{"certificates/ca-dir/a.example/a.example.crt", IssueLockPrefix + "a.example"},
		{"certificates/ca-dir/a.example/a.example.key", IssueLockPrefix + "a.example"},
		{"certificates/ca-dir/wildcard_.w.example/wildcard_.w.example.json", IssueLockPrefix + "*.w.example"},
		{"certificates/ca-dir/b.example/b.example.crt", ""},
		{"certificates/a.example", ""},
		{"ocsp/a.example-123", ""},
		{"accounts/ca/a@b/a.json", ""},
	}
	for _, tt := range tests {
		g, ok, err := l.GuardFor(tt.key)
		if err != nil {
			t.Fatalf("GuardFor(%s): %v", tt.key, err)
		}
		if got := map[bool]string{true: g.Lock}[ok]; got != tt.wantLock {
			t.Errorf("GuardFor(%s) = %q, want %q", tt.key, got, tt.wantLock)
		}
		if ok && (g.Token != b.locks[g.Lock] || g.Fence == 0) {
			t.Errorf("GuardFor(%s) = %+v, not the held lease", tt.key, g)
		}
	}
}
