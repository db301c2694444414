package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/internal/servicetest"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/redis"
	"github.com/casketserver/casket/tlsmgr/cluster/storagetest"
)

func newClient(t *testing.T, r *servicetest.Redis, prefix string) *redis.Storage {
	s := redis.New(redis.Options{Addr: r.Addr, KeyPrefix: prefix, Lock: cluster.LockOptions{
		TTL: time.Second, RenewEvery: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	}})
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	r := servicetest.StartRedis(t)
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) certmagic.Storage { return newClient(t, r, "conf") },
		Lease: &storagetest.LeaseHarness{
			TTL:     time.Second,
			Abandon: func(s certmagic.Storage) { s.(*redis.Storage).Abandon() },
			Expire: func(t *testing.T, s certmagic.Storage, name string) {
				if err := s.(*redis.Storage).ExpireLock(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			},
		},
	})
}

func TestConformanceEncrypted(t *testing.T) {
	r := servicetest.StartRedis(t)
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) certmagic.Storage {
			e, err := cluster.NewEncrypted(newClient(t, r, "enc"), []byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		NoLocks: true,
	})
}

func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the server; skipped with -short")
	}
	r := servicetest.StartRedis(t)
	s := newClient(t, r, "restart")
	ctx := context.Background()
	if err := s.Store(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	done := make(chan error, 1)
	go func() { done <- s.Store(ctx, "b", []byte("2")) }()
	time.Sleep(500 * time.Millisecond)
	r.Start()
	if err := <-done; err != nil {
		t.Fatalf("Store across a restart of redis: %v", err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := s.Load(ctx, k); err != nil {
			t.Errorf("Load(%s) after restart: %v", k, err)
		}
	}
}

func TestLockHolder(t *testing.T) {
	r := servicetest.StartRedis(t)
	newHolder := func(id string) *redis.Storage {
		s := redis.New(redis.Options{Addr: r.Addr, KeyPrefix: "holder", Lock: cluster.LockOptions{
			Holder: id, TTL: time.Second, RenewEvery: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		}})
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newHolder("node-a"), newHolder("node-b")
	storagetest.LockHolder(t, a, b, "node-a", "node-b", time.Second, a.Abandon)

	e, err := cluster.NewEncrypted(b, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(context.Background(), "enc"); err != nil {
		t.Fatal(err)
	}
	if h, _, ok, err := e.LockHolder(context.Background(), "enc"); err != nil || !ok || h != "node-a" {
		t.Errorf("through Encrypted: holder %q, %v, %v; want node-a", h, ok, err)
	}
}
