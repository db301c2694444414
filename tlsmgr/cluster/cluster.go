// Package cluster holds what Casket's shared certificate storages have in common: locks that are leases
// with fencing tokens, a way for the holder of a lock to learn that it lost it, bounded retries of storage
// calls, at-rest encryption of stored values, and instance identities.
//
// certmagic locks a name around every certificate order, renewal, account registration and ARI fetch.
// A Locker turns such a lock into a lease: the backend records a holder id, a random token, a monotonic
// fencing token and an expiry; a background goroutine extends the lease every RenewEvery; a holder that
// crashes stops extending it, so the lock frees itself within TTL. When the holder cannot extend its lease
// (someone else took the lock, or the backend stayed unreachable until the lease ran out) it calls the
// function attached to the Lock call's context with WithLeaseLost. certmagic passes the context given to
// ObtainCertSync (and the other operations) straight to Lock, so a caller that attaches a cancel function
// there stops its ACME order when its lease is gone instead of carrying on next to the new holder.
// certmagic itself only calls RenewLockLease between retries of an order; a Locker answers that call by
// checking, right then, that the lease is still held, which makes certmagic abort the attempt if not.
package cluster

import (
	"context"
	"errors"
	"time"
)

// Default lease timing: a crashed holder's lock frees itself within DefaultTTL; a live holder extends its
// lease every DefaultRenewEvery, so it survives two missed extensions in a row.
const (
	DefaultTTL          = 10 * time.Second
	DefaultRenewEvery   = 3 * time.Second
	DefaultPollInterval = 250 * time.Millisecond
)

// ErrLeaseLost reports that a lock was lost while held: the lease ran out or another holder took it.
var ErrLeaseLost = errors.New("lock lease lost")

// ErrNotHeld reports an Unlock or RenewLockLease of a lock this client does not hold.
var ErrNotHeld = errors.New("lock not held by this instance")

type leaseLostKey struct{}

// WithLeaseLost returns a context carrying fn: a lock taken with this context (or one derived from it)
// calls fn once, with the lock's name, if its lease is lost while held. fn must not block.
func WithLeaseLost(ctx context.Context, fn func(name string)) context.Context {
	return context.WithValue(ctx, leaseLostKey{}, fn)
}

// LeaseLostFunc returns the function WithLeaseLost attached to ctx, or nil; storages call it when a lock
// taken with ctx is lost.
func LeaseLostFunc(ctx context.Context) func(string) {
	fn, _ := ctx.Value(leaseLostKey{}).(func(string))
	return fn
}

// Fencer is implemented by storages whose locks carry fencing tokens.
type Fencer interface {
	// Fence returns the fencing token of a lock this client holds: every acquisition of any lock gets a
	// larger token than all acquisitions before it.
	Fence(name string) (token int64, ok bool)
}

// LockBackend is the atomic part of a lease lock, implemented by each storage backend. Every method
// is a single atomic operation on the backend, decided by the backend's own clock.
type LockBackend interface {
	// Acquire takes the lock name for holder, identified by token, for ttl, unless someone holds an
	// unexpired lease on it. It returns the fencing token of this acquisition and whether it succeeded.
	Acquire(ctx context.Context, name, holder, token string, ttl time.Duration) (fence int64, ok bool, err error)
	// Extend sets the lease of name to end ttl from now if token still holds it, and reports whether it did.
	Extend(ctx context.Context, name, token string, ttl time.Duration) (bool, error)
	// Release removes the lock name if token holds it; it is not an error if it does not.
	Release(ctx context.Context, name, token string) error
}

// LockInspector is implemented by storages that record which instance holds each lock; `casket -certs`
// uses it to show the holder of a certificate's issuance lock.
type LockInspector interface {
	// LockHolder reports the holder id and the lease's expiry of the lock name; ok is false when no
	// unexpired lease is held on it. The expiry is on the local clock, give or take the backend's latency.
	LockHolder(ctx context.Context, name string) (holder string, expires time.Time, ok bool, err error)
}
