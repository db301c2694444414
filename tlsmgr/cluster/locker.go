package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// LockOptions tune a Locker; zero fields take the defaults.
type LockOptions struct {
	Holder       string        // this instance's identity, recorded with every lock; "" means a random one
	TTL          time.Duration // lease length (DefaultTTL)
	RenewEvery   time.Duration // how often a held lease is extended (DefaultRenewEvery)
	PollInterval time.Duration // how often Lock retries a taken lock (DefaultPollInterval)
	Logger       *zap.Logger
}

// Locker implements certmagic's Locker, TryLocker and LockLeaseRenewer on top of a LockBackend.
// Backends embed it. It is safe for concurrent use.
type Locker struct {
	backend LockBackend
	opts    LockOptions
	log     *zap.Logger

	mu   sync.Mutex
	held map[string]*lease
}

// lease is one held lock.
type lease struct {
	name, token string
	fence       int64
	onLost      func(string)
	stop        chan struct{}
	done        chan struct{}

	mu         sync.Mutex
	validUntil time.Time // local bound: the backend's lease surely lasts until then
	lost       bool
}

// NewLocker returns a Locker over backend.
func NewLocker(backend LockBackend, opts LockOptions) *Locker {
	opts.TTL = cmp.Or(opts.TTL, DefaultTTL)
	opts.RenewEvery = cmp.Or(opts.RenewEvery, DefaultRenewEvery)
	opts.PollInterval = cmp.Or(opts.PollInterval, DefaultPollInterval)
	if opts.Holder == "" {
		opts.Holder = randomID()
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Locker{backend: backend, opts: opts, log: opts.Logger, held: make(map[string]*lease)}
}

// Holder returns the identity this Locker records with its locks.
func (l *Locker) Holder() string { return l.opts.Holder }

// Lock blocks until it holds the lock name or ctx ends. Backend errors while waiting are retried, since
// a backend that restarts must not fail every pending order at once; they are returned only when ctx ends.
func (l *Locker) Lock(ctx context.Context, name string) error {
	var lastErr error
	for {
		ok, err := l.TryLock(ctx, name)
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		t := time.NewTimer(l.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			if lastErr != nil {
				return fmt.Errorf("acquiring lock %s: %w (last error: %v)", name, ctx.Err(), lastErr)
			}
			return fmt.Errorf("acquiring lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLock takes the lock name if it is free and reports whether it did.
func (l *Locker) TryLock(ctx context.Context, name string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l.mu.Lock()
	_, mine := l.held[name]
	l.mu.Unlock()
	if mine {
		return false, nil // held by another goroutine of this instance
	}
	token := randomID()
	start := time.Now()
	// The attempt is not cut short by ctx: a cancelled request may still reach the backend and take the
	// lock after the caller gave up, leaving a lease nobody extends or releases. It runs to its end (bounded
	// by TTL), and what it won after ctx ended is given back.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.TTL)
	fence, ok, err := l.backend.Acquire(actx, name, l.opts.Holder, token, l.opts.TTL)
	cancel()
	if err != nil {
		// the request may have taken the lock all the same; the token is ours alone, so releasing is safe
		go l.releaseQuietly(name, token)
		return false, err
	}
	if !ok {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		l.releaseQuietly(name, token)
		return false, err
	}
	ls := &lease{
		name: name, token: token, fence: fence, onLost: LeaseLostFunc(ctx),
		stop: make(chan struct{}), done: make(chan struct{}), validUntil: start.Add(l.opts.TTL),
	}
	l.mu.Lock()
	if _, mine := l.held[name]; mine {
		// cannot happen unless the backend broke exclusivity; give this acquisition back
		l.mu.Unlock()
		_ = l.backend.Release(context.WithoutCancel(ctx), name, token)
		return false, nil
	}
	l.held[name] = ls
	l.mu.Unlock()
	go l.keepAlive(ls)
	return true, nil
}

// Unlock stops extending the lease of name and releases it. It reports ErrLeaseLost if the lease had been
// lost while held (the lock is then someone else's and is left alone).
func (l *Locker) Unlock(ctx context.Context, name string) error {
	l.mu.Lock()
	ls, ok := l.held[name]
	if ok {
		delete(l.held, name)
	}
	l.mu.Unlock()
	if !ok {
		return fmt.Errorf("unlocking %s: %w", name, ErrNotHeld)
	}
	close(ls.stop)
	<-ls.done
	ls.mu.Lock()
	lost := ls.lost
	ls.mu.Unlock()
	if lost {
		return fmt.Errorf("unlocking %s: %w", name, ErrLeaseLost)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.TTL)
	defer cancel()
	err := retry(ctx, func() error { return l.backend.Release(ctx, name, ls.token) })
	if err != nil {
		// the lease still expires by itself within TTL
		return fmt.Errorf("releasing lock %s: %w", name, err)
	}
	return nil
}

// releaseQuietly gives back an acquisition of name by token that the caller will not use.
func (l *Locker) releaseQuietly(name, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.TTL)
	defer cancel()
	_ = retry(ctx, func() error { return l.backend.Release(ctx, name, token) })
}

// RenewLockLease checks, now, that the lease of name is still held and extends it; certmagic calls it
// between attempts of an order. The lease is extended by TTL, not by leaseDuration: the background renewal
// keeps it alive as long as this instance runs, and a crashed instance's lock must free itself quickly.
func (l *Locker) RenewLockLease(ctx context.Context, name string, _ time.Duration) error {
	l.mu.Lock()
	ls, ok := l.held[name]
	l.mu.Unlock()
	if !ok {
		return fmt.Errorf("renewing lease of %s: %w", name, ErrNotHeld)
	}
	if err := l.extend(ctx, ls); err != nil {
		return fmt.Errorf("renewing lease of %s: %w", name, err)
	}
	return nil
}

// Fence returns the fencing token of the held lock name.
func (l *Locker) Fence(name string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.held[name]
	if !ok {
		return 0, false
	}
	return ls.fence, true
}

// Abandon stops extending every held lease without releasing it, as a crashed instance would; tests use
// it to show that abandoned locks expire.
func (l *Locker) Abandon() {
	l.mu.Lock()
	held := l.held
	l.held = make(map[string]*lease)
	l.mu.Unlock()
	for _, ls := range held {
		close(ls.stop)
		<-ls.done
	}
}

// Close releases every held lock (best effort) and stops their renewal.
func (l *Locker) Close() {
	l.mu.Lock()
	names := make([]string, 0, len(l.held))
	for n := range l.held {
		names = append(names, n)
	}
	l.mu.Unlock()
	for _, n := range names {
		_ = l.Unlock(context.Background(), n)
	}
}

// keepAlive extends ls every RenewEvery until it is stopped or the lease is lost.
func (l *Locker) keepAlive(ls *lease) {
	defer close(ls.done)
	t := time.NewTicker(l.opts.RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.RenewEvery)
		err := l.extend(ctx, ls)
		cancel()
		if err == nil {
			continue
		}
		ls.mu.Lock()
		lost := ls.lost
		ls.mu.Unlock()
		if lost {
			return
		}
		l.log.Warn("could not extend lock lease; retrying", zap.String("lock", ls.name), zap.Error(err))
	}
}

// extend extends ls once. A backend error is tolerated while the lease surely still runs; past that, or
// when the backend says the token no longer holds the lock, the lease is lost and its holder is told.
func (l *Locker) extend(ctx context.Context, ls *lease) error {
	ls.mu.Lock()
	if ls.lost {
		ls.mu.Unlock()
		return ErrLeaseLost
	}
	ls.mu.Unlock()
	start := time.Now()
	ok, err := l.backend.Extend(ctx, ls.name, ls.token, l.opts.TTL)
	ls.mu.Lock()
	switch {
	case err == nil && ok:
		ls.validUntil = start.Add(l.opts.TTL)
		ls.mu.Unlock()
		return nil
	case err != nil && time.Now().Before(ls.validUntil):
		ls.mu.Unlock()
		return err
	}
	ls.lost = true
	ls.mu.Unlock()
	l.log.Error("lock lease lost; stopping the work it protected", zap.String("lock", ls.name),
		zap.Int64("fence", ls.fence), zap.NamedError("backend_error", err))
	if ls.onLost != nil {
		ls.onLost(ls.name)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLeaseLost, err)
	}
	return ErrLeaseLost
}

// randomID returns 128 random bits in hex.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var (
	_ certmagic.Locker           = (*Locker)(nil)
	_ certmagic.TryLocker        = (*Locker)(nil)
	_ certmagic.LockLeaseRenewer = (*Locker)(nil)
	_ Fencer                     = (*Locker)(nil)
)
