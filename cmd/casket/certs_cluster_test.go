package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/servicetest"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/redis"
)

// TestCertsLockHolderRedis: with certificates in Redis and one instance holding the issuance lock of
// a.example, -certs run from another instance shows that holder's id.
func TestCertsLockHolderRedis(t *testing.T) {
	dir, _ := certStorageFixture(t)
	r := servicetest.StartRedis(t)
	ctx := context.Background()
	newClient := func(id string) *redis.Storage {
		s := redis.New(redis.Options{Addr: r.Addr, KeyPrefix: "certs", Lock: cluster.LockOptions{Holder: id}})
		t.Cleanup(func() { s.Close() })
		return s
	}
	holder, viewer := newClient("node-7"), newClient("viewer")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return holder.Store(ctx, filepath.ToSlash(rel), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}

	infos, err := listCerts(ctx, viewer, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range infos {
		switch {
		case ci.Name == "a.example" && (ci.Lock == nil || ci.Lock.Holder != "node-7" || !ci.Lock.Expires.After(time.Now())):
			t.Errorf("a.example lock = %+v, want held by node-7 until a future time", ci.Lock)
		case ci.Name != "a.example" && ci.Lock != nil:
			t.Errorf("%s lock = %+v, want none", ci.Name, ci.Lock)
		}
	}
	var out bytes.Buffer
	if err := printCerts(&out, infos, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte("held by node-7")) {
		t.Errorf("table:\n%s", out.String())
	}

	if err := holder.Unlock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	if l := readLock(ctx, viewer, "a.example"); l != nil {
		t.Errorf("after Unlock: lock = %+v, want none", l)
	}
}
