package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/internal/servicetest"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/postgres"
	"github.com/casketserver/casket/tlsmgr/cluster/storagetest"
)

func newClient(t *testing.T, p *servicetest.Postgres) *postgres.Storage {
	s, err := postgres.New(context.Background(), postgres.Options{DSN: p.DSN, Lock: cluster.LockOptions{
		TTL: time.Second, RenewEvery: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	p := servicetest.StartPostgres(t)
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) certmagic.Storage { return newClient(t, p) },
		Lease: &storagetest.LeaseHarness{
			TTL:     time.Second,
			Abandon: func(s certmagic.Storage) { s.(*postgres.Storage).Abandon() },
			Expire: func(t *testing.T, s certmagic.Storage, name string) {
				if err := s.(*postgres.Storage).ExpireLock(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			},
		},
	})
}

func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the server; skipped with -short")
	}
	p := servicetest.StartPostgres(t)
	s := newClient(t, p)
	ctx := context.Background()
	if err := s.Store(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	done := make(chan error, 1)
	go func() { done <- s.Store(ctx, "b", []byte("2")) }()
	time.Sleep(500 * time.Millisecond)
	p.Start()
	if err := <-done; err != nil {
		t.Fatalf("Store across a restart of postgres: %v\n%s", err, p.Log())
	}
	for _, k := range []string{"a", "b"} {
		if _, err := s.Load(ctx, k); err != nil {
			t.Errorf("Load(%s) after restart: %v", k, err)
		}
	}
}

func TestLockHolder(t *testing.T) {
	p := servicetest.StartPostgres(t)
	newHolder := func(id string) *postgres.Storage {
		s, err := postgres.New(context.Background(), postgres.Options{DSN: p.DSN, Lock: cluster.LockOptions{
			Holder: id, TTL: time.Second, RenewEvery: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newHolder("node-a"), newHolder("node-b")
	storagetest.LockHolder(t, a, b, "node-a", "node-b", time.Second, a.Abandon)
}
