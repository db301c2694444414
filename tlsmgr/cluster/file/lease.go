package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// guardWait bounds a wait for the guard when the caller's context does not end sooner. The guard is held
// for a few file operations at a time, so a longer wait means its holder hangs (an unreachable NFS server).
const guardWait = 15 * time.Second

// record is one lease, stored as JSON in locks/<name>.lease.
type record struct {
	Name    string `json:"name"`
	Holder  string `json:"holder"`
	Token   string `json:"token"`
	Fence   int64  `json:"fence"`
	Expires int64  `json:"expires"` // Unix milliseconds, wall clock
}

// live reports whether r is a lease that has not expired at nowMS.
func (r *record) live(nowMS int64) bool { return r != nil && nowMS < r.Expires }

// heldBy reports whether r is an unexpired lease of token.
func (r *record) heldBy(token string, nowMS int64) bool { return r.live(nowMS) && r.Token == token }

// now is the wall clock in Unix milliseconds, the unit of record.Expires.
func now() int64 { return time.Now().UnixMilli() }

// leaseFile returns the file name of the lease of the lock name: a readable, storage-safe form of the
// name (which certmagic.StorageKeys.Safe may shorten or merge with others) followed by a hash of the name
// itself, so different names never share a file.
func leaseFile(name string) string {
	readable := certmagic.StorageKeys.Safe(name)
	if len(readable) > 80 {
		readable = readable[:80]
	}
	sum := sha256.Sum256([]byte(name))
	return readable + "." + hex.EncodeToString(sum[:16]) + ".lease"
}

func (s *Storage) leasePath(name string) string { return filepath.Join(s.lockDir, leaseFile(name)) }

// withGuard runs fn while this Storage holds the guard: its own semaphore (for its goroutines) and an
// exclusive flock on locks/.guard (for other processes and hosts). Waiting ends with ctx or guardWait.
func (s *Storage) withGuard(ctx context.Context, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, guardWait)
	defer cancel()
	select {
	case s.guard <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the lock guard: %w", ctx.Err())
	}
	defer func() { <-s.guard }()
	f, err := s.openGuard()
	if err != nil {
		return err
	}
	defer f.Close() // also drops the flock if unlocking failed
	for delay := time.Millisecond; ; delay = min(2*delay, 16*time.Millisecond) {
		err := tryLock(f)
		if err == nil {
			break
		}
		if unsupported(err) {
			return fmt.Errorf("locking %s: %w: %w", f.Name(), ErrNoFileLocks, err)
		}
		if !errors.Is(err, errLocked) {
			return fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the lock guard %s: %w", f.Name(), ctx.Err())
		case <-t.C:
		}
	}
	defer func() { _ = unlock(f) }()
	return fn()
}

// openGuard opens locks/.guard, creating it (and the folder, if someone removed it) when missing.
func (s *Storage) openGuard() (*os.File, error) {
	name := filepath.Join(s.lockDir, ".guard")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(s.lockDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating lock folder: %w", err)
		}
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("opening lock guard: %w", err)
	}
	return f, nil
}

// readLease returns the lease record of name, or nil if there is none. Call it under the guard (but see
// LockHolder). With
// create, a missing record is created empty (see readFile); Acquire needs that, since it must not miss a
// record another host just wrote. Extend, Release and fenced writes look for a record this instance wrote
// itself, which its own cache knows about, and LockHolder only informs, so they do not create one.
func (s *Storage) readLease(name string, create bool) (*record, error) {
	p := s.leasePath(name)
	b, err := readFile(p, create)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading lease of %s: %w", name, err)
	}
	if len(b) == 0 {
		return nil, nil // just created, or left by an Acquire that failed half-way: no lease
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		// records are replaced by rename, never written in place, so this is damage from outside; a lease
		// nobody can read protects nothing, and keeping it would block the lock forever
		s.log.Warn("ignoring unreadable lock lease", zap.String("file", p), zap.Error(err))
		return nil, nil
	}
	return &rec, nil
}

// writeLease stores rec. Call it under the guard.
func (s *Storage) writeLease(rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := writeAtomic(s.leasePath(rec.Name), b, false); err != nil {
		return fmt.Errorf("writing lease of %s: %w", rec.Name, err)
	}
	return nil
}

// removeLease deletes the lease of name. Call it under the guard.
func (s *Storage) removeLease(name string) error {
	if err := os.Remove(s.leasePath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing lease of %s: %w", name, err)
	}
	return nil
}

// nextFence increments the fencing counter in locks/.fence and returns its new value, which is also
// larger than floor. Call it under the guard.
func (s *Storage) nextFence(floor int64) (int64, error) {
	p := filepath.Join(s.lockDir, ".fence")
	b, err := readFile(p, true)
	if err != nil {
		return 0, fmt.Errorf("reading fencing counter: %w", err)
	}
	var last int64
	if t := strings.TrimSpace(string(b)); t != "" {
		last, err = strconv.ParseInt(t, 10, 64)
		if err != nil {
			// the clock in milliseconds exceeds any count of acquisitions made so far
			s.log.Error("fencing counter unreadable; continuing from the clock", zap.String("file", p), zap.Error(err))
			last = now()
		}
	}
	next := max(last, floor) + 1
	if err := writeAtomic(p, []byte(strconv.FormatInt(next, 10)+"\n"), true); err != nil {
		return 0, fmt.Errorf("writing fencing counter: %w", err)
	}
	return next, nil
}

// readFile reads the file at path. With create, a missing file is created empty: opening with O_CREAT
// makes an NFS client look the name up on the server rather than trust a cached "no such file".
func readFile(path string, create bool) ([]byte, error) {
	flags := os.O_RDONLY
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<16))
}

// writeAtomic replaces the file at path with data: written to a temporary file in the same folder, synced,
// and renamed into place, so readers see the old or the new content, never a part. With syncDir the
// folder is synced too, so the rename survives a power failure.
func writeAtomic(path string, data []byte, syncDir bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if syncDir {
		return syncFolder(dir)
	}
	return nil
}

// lockBackend implements cluster.LockBackend on lease files; each method is one critical section under
// the guard.
type lockBackend struct{ s *Storage }

func (b lockBackend) Acquire(ctx context.Context, name, holder, token string, ttl time.Duration) (int64, bool, error) {
	var fence int64
	err := b.s.withGuard(ctx, func() error {
		rec, err := b.s.readLease(name, true)
		if err != nil || rec.live(now()) {
			return err
		}
		var floor int64
		if rec != nil {
			floor = rec.Fence
		}
		f, err := b.s.nextFence(floor)
		if err != nil {
			return err
		}
		rec = &record{Name: name, Holder: holder, Token: token, Fence: f, Expires: now() + ttl.Milliseconds()}
		if err := b.s.writeLease(rec); err != nil {
			return err
		}
		fence = f
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("acquiring lock %s: %w", name, err)
	}
	return fence, fence > 0, nil
}

func (b lockBackend) Extend(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	var ok bool
	err := b.s.withGuard(ctx, func() error {
		rec, err := b.s.readLease(name, false)
		if err != nil || !rec.heldBy(token, now()) {
			return err
		}
		rec.Expires = now() + ttl.Milliseconds()
		if err := b.s.writeLease(rec); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("extending lock %s: %w", name, err)
	}
	return ok, nil
}

func (b lockBackend) Release(ctx context.Context, name, token string) error {
	err := b.s.withGuard(ctx, func() error {
		rec, err := b.s.readLease(name, false)
		if err != nil || rec == nil || rec.Token != token {
			return err
		}
		return b.s.removeLease(name)
	})
	if err != nil {
		return fmt.Errorf("releasing lock %s: %w", name, err)
	}
	return nil
}
