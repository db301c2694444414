// Package file is a certmagic.Storage in a folder that several instances may share through a common mount
// (NFSv4, or a local disk for instances on one host). Values are certmagic's FileStorage files, unchanged,
// so existing `.casket` folders keep working. Locks are leases with fencing tokens (see package cluster):
//
//   - locks/.guard is a file that is locked with flock(2) around every lock operation, which are a few
//     file operations each. The kernel drops the flock of a process that dies; on NFSv4 the server drops
//     that of a client host that stops renewing its NFS lease (after about 90 seconds; lock operations
//     fail and are retried meanwhile). Linux NFS clients send flock to the server as a POSIX lock, unless
//     the folder is mounted with local_lock=flock or local_lock=all, which makes it useless across hosts.
//   - locks/<name>.lease holds one lease as JSON: holder, token, fencing token and expiry (Unix
//     milliseconds, wall clock). A lease whose expiry has passed is free for the taking.
//   - locks/.fence holds the last fencing token handed out.
//
// Every record is read after the guard is taken and written, through a synced temporary file renamed
// into place, before it is released; on NFS, close-to-open consistency then makes each instance see the
// others' records. Acquiring opens the record with O_CREAT, which makes the NFS client ask the server
// whether it exists instead of trusting a cached "no such file".
//
// Expiry compares the wall clocks of different hosts: instances that share a folder need synchronized
// clocks (NTP). A skew well below the lease length (10 seconds) is harmless.
package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"go.uber.org/zap"
)

// Options configure a Storage.
type Options struct {
	Lock   cluster.LockOptions
	Logger *zap.Logger
}

// Storage stores certificates as files in a folder, with lease locks in its locks/ sub-folder. It is safe
// for concurrent use, by goroutines and by processes sharing the folder.
type Storage struct {
	*cluster.Locker
	files   certmagic.FileStorage
	lockDir string
	log     *zap.Logger
	guard   chan struct{} // taken by the goroutine of this Storage that holds the guard flock
}

// New returns the storage in dir, creating dir and its locks folder (mode 0700) if they are missing.
func New(dir string, opts Options) (*Storage, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Lock.Logger == nil {
		opts.Lock.Logger = opts.Logger
	}
	if !flockSupported {
		return nil, fmt.Errorf("file storage %s: %w on this system", dir, ErrNoFileLocks)
	}
	s := &Storage{
		files:   certmagic.FileStorage{Path: dir},
		lockDir: filepath.Join(dir, "locks"),
		log:     opts.Logger,
		guard:   make(chan struct{}, 1),
	}
	if err := os.MkdirAll(s.lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating lock folder: %w", err)
	}
	// a file system without working file locks (NFS without a lock service) fails here, not at the first
	// order; a guard held by someone else for a while is no reason to fail
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.withGuard(ctx, func() error { return nil }); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("file storage %s: %w", dir, err)
	}
	s.Locker = cluster.NewLocker(lockBackend{s}, opts.Lock)
	return s, nil
}

// ErrNoFileLocks reports a folder (or a system) whose file locks do not work, such as an NFS mount
// without a lock service.
var ErrNoFileLocks = errors.New("file locks are not supported")

// Close releases the locks this Storage holds.
func (s *Storage) Close() error {
	s.Locker.Close()
	return nil
}

// String describes the storage for logs.
func (s *Storage) String() string { return "file:" + s.files.Path }

// Store writes value at key. A write of a certificate whose issuance lock this instance holds is fenced:
// it happens, under the guard, only if the lease is still this instance's and unexpired; else Store fails
// with cluster.ErrLeaseLost.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	g, fenced, err := s.GuardFor(key)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if !fenced {
		return s.files.Store(ctx, key, value)
	}
	return s.withGuard(ctx, func() error {
		rec, err := s.readLease(g.Lock, false)
		if err != nil {
			return fmt.Errorf("storing %s: %w", key, err)
		}
		if !rec.heldBy(g.Token, now()) {
			return fmt.Errorf("storing %s: %w: %s (fencing token %d)", key, cluster.ErrLeaseLost, g.Lock, g.Fence)
		}
		return s.files.Store(ctx, key, value)
	})
}

// Load reads the value at key; an error wrapping fs.ErrNotExist if there is none.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	return s.files.Load(ctx, key)
}

// Delete removes key and, if it is a folder, everything in it.
func (s *Storage) Delete(ctx context.Context, key string) error { return s.files.Delete(ctx, key) }

// Exists reports whether key is a stored value or a folder of them.
func (s *Storage) Exists(ctx context.Context, key string) bool { return s.files.Exists(ctx, key) }

// List returns the keys directly under prefix, or all keys and folders below it when recursive.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	return s.files.List(ctx, prefix, recursive)
}

// Stat describes key.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	return s.files.Stat(ctx, key)
}

// LockHolder reports who holds the lock name and until when (on the wall clock of whoever took or last
// extended it); an expired lease is not reported. It only informs (`casket -certs` asks it about every
// certificate), so it reads the lease without taking the guard: records are replaced by rename, so it
// sees a whole one, possibly one that is being replaced at that moment.
func (s *Storage) LockHolder(_ context.Context, name string) (string, time.Time, bool, error) {
	rec, err := s.readLease(name, false)
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("reading holder of lock %s: %w", name, err)
	}
	if !rec.live(now()) {
		return "", time.Time{}, false, nil
	}
	return rec.Holder, time.UnixMilli(rec.Expires), true, nil
}

// ExpireLock removes the lock name whoever holds it, as if its lease had run out; for tests.
func (s *Storage) ExpireLock(ctx context.Context, name string) error {
	return s.withGuard(ctx, func() error { return s.removeLease(name) })
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
	_ cluster.Fencer             = (*Storage)(nil)
	_ cluster.LockInspector      = (*Storage)(nil)
)
