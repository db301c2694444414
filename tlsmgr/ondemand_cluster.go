package tlsmgr

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Cluster-wide on-demand limits (Options.ClusterLimits) live in the certificate storage, under
//
//	ondemand/ratelimits           the built-in rate limits (JSON odRateRecord), one for the whole cluster
//	ondemand/<group>/count        a max_certs count (JSON odCountRecord), one per on-demand site group
//	ondemand/<group>/names/<name> one small record per name obtained under that cap
//
// where <group> is a hash of the group's configuration. Read-modify-writes of a record happen under a
// storage lock; every storage call is bounded, and a storage error denies the certificate (fail closed).
const (
	odStorageTimeout = 2 * time.Second // one storage read or write
	odLockWait       = 3 * time.Second // taking a short-held limits lock
	odOrderBound     = 3 * time.Minute // an order under cluster limits is cut off after this long
	// odPendingTTL is how long a max_certs reservation or a challenge marked busy stays valid: longer than
	// any order (odOrderBound), so only the records of a crashed instance ever lapse.
	odPendingTTL = odOrderBound + 2*time.Minute

	odRateKey       = "ondemand/ratelimits"
	odRateLock      = "ondemand_limits_rate" // guards odRateKey where the storage has no quick TryLock
	odChallengeLock = "ondemand_challenge"   // held during a challenge where the storage has a quick TryLock
)

// clusterLimits keeps max_certs counts and the built-in rate limits in a storage shared by a cluster.
type clusterLimits struct {
	s   certmagic.Storage
	try certmagic.TryLocker // the storage's TryLock when it answers at once; nil: a busy record is used
	log *zap.Logger
	now func() time.Time // the clock; nil means time.Now
	id  string           // this Manager's identity in busy records

	opTimeout time.Duration // bounds one storage call (odStorageTimeout)
	lockWait  time.Duration // bounds taking a limits lock (odLockWait)

	mu    sync.Mutex
	local map[string]chan struct{} // per lock name: serializes this process's goroutines before the storage lock
}

func newClusterLimits(s certmagic.Storage, log *zap.Logger) *clusterLimits {
	return &clusterLimits{s: s, try: quickTryLocker(s), log: log, id: randomToken(), local: make(map[string]chan struct{}),
		opTimeout: odStorageTimeout, lockWait: odLockWait}
}

// quickTryLocker returns s as a TryLocker if its TryLock answers at once. certmagic's FileStorage polls a
// taken lock for about two seconds before giving up, so it (also wrapped, e.g. encrypted) gets nil.
func quickTryLocker(s certmagic.Storage) certmagic.TryLocker {
	tl, ok := s.(certmagic.TryLocker)
	if !ok {
		return nil
	}
	for u := s; u != nil; {
		if _, file := u.(*certmagic.FileStorage); file {
			return nil
		}
		w, ok := u.(interface{ Unwrap() certmagic.Storage })
		if !ok {
			break
		}
		u = w.Unwrap()
	}
	return tl
}

func (c *clusterLimits) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// groupKey turns an on-demand group's configuration key into the storage-safe name of its records.
func groupKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}

func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// odStorageError is a failure of the shared storage: the limits could not be checked, so the certificate
// is denied.
type odStorageError struct{ err error }

func (e *odStorageError) Error() string { return e.err.Error() }
func (e *odStorageError) Unwrap() error { return e.err }

// errStorage wraps a storage failure so that the denial says the limits could not be checked.
func errStorage(action string, err error) error {
	return &odStorageError{fmt.Errorf("on-demand limits: %s in the shared storage failed, so the certificate is denied: %w", action, err)}
}

// load reads the JSON record at key into v; found is false when there is none.
func (c *clusterLimits) load(ctx context.Context, key string, v any) (found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	b, err := c.s.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("reading %s: %w", key, err)
	}
	return true, nil
}

// store writes v as JSON at key.
func (c *clusterLimits) store(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	return c.s.Store(ctx, key, b)
}

// exists reports whether key is in storage (false also when the storage cannot be reached).
func (c *clusterLimits) exists(ctx context.Context, key string) bool {
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	return c.s.Exists(ctx, key)
}

// withLock runs fn holding the storage lock name, waiting at most lockWait for it. Goroutines of this
// process queue in memory first, so the storage sees one contender per instance.
func (c *clusterLimits) withLock(ctx context.Context, name string, fn func() error) error {
	c.mu.Lock()
	sem := c.local[name]
	if sem == nil {
		sem = make(chan struct{}, 1)
		c.local[name] = sem
	}
	c.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, c.lockWait)
	defer cancel()
	select {
	case sem <- struct{}{}:
	case <-lctx.Done():
		return errStorage("taking lock "+name, lctx.Err())
	}
	defer func() { <-sem }()
	if _, err := c.acquire(lctx, name, false); err != nil {
		return errStorage("taking lock "+name, err)
	}
	defer c.unlock(name)
	return fn()
}

// acquire takes the storage lock name, with TryLock when try (reporting whether it got it) or else Lock,
// and returns when ctx ends even if the storage call does not (a lease-based TryLock finishes an attempt
// in flight so as not to orphan a lock); a lock won after that is released at once.
func (c *clusterLimits) acquire(ctx context.Context, name string, try bool) (bool, error) {
	type result struct {
		ok  bool
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		if try {
			r.ok, r.err = c.try.TryLock(ctx, name)
		} else {
			r.err = c.s.Lock(ctx, name)
			r.ok = r.err == nil
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		if r.ok && ctx.Err() == nil {
			return true, nil
		}
		if r.ok {
			c.unlock(name)
			return false, ctx.Err()
		}
		return false, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.ok {
				c.unlock(name)
			}
		}()
		return false, ctx.Err()
	}
}

// unlock releases the storage lock name, logging a failure (the lock then expires by itself).
func (c *clusterLimits) unlock(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opTimeout)
	defer cancel()
	if err := c.s.Unlock(ctx, name); err != nil {
		c.log.Warn("releasing on-demand limits lock", zap.String("lock", name), zap.Error(err))
	}
}

// odCountRecord is a max_certs count shared by the cluster.
type odCountRecord struct {
	Sites    []string             `json:"sites,omitempty"` // for people reading the storage
	MaxCerts int                  `json:"max_certs"`
	Obtained int                  `json:"obtained"`          // distinct names obtained under the cap
	Pending  map[string]time.Time `json:"pending,omitempty"` // name → when its reservation lapses
}

// inUse counts obtained names and unexpired reservations, dropping expired ones.
func (r *odCountRecord) inUse(now time.Time) int {
	for n, until := range r.Pending {
		if !now.Before(until) {
			delete(r.Pending, n)
		}
	}
	return r.Obtained + len(r.Pending)
}

func countKey(group string) string { return "ondemand/" + group + "/count" }
func nameKey(group, name string) string {
	return "ondemand/" + group + "/names/" + certmagic.StorageKeys.Safe(name)
}
func countLock(group string) string { return "ondemand_limits_" + group }
func maxCertsErr(inUse, max int) error {
	return fmt.Errorf("max_certs: %d certificates already obtained on demand in the cluster (or being obtained); the limit is %d", inUse, max)
}

// capCheck returns why the group's cap denies a new certificate for name, or nil; it reserves nothing.
// A name already obtained under the cap does not count again.
func (c *clusterLimits) capCheck(ctx context.Context, group, name string, max int) error {
	var rec odCountRecord
	if _, err := c.load(ctx, countKey(group), &rec); err != nil {
		return errStorage("reading the max_certs count", err)
	}
	if n := rec.inUse(c.clock()); n >= max && !c.exists(ctx, nameKey(group, name)) {
		return maxCertsErr(n, max)
	}
	return nil
}

// reserve takes a max_certs slot for name in the group's shared count; done gives it back, or turns it
// into an obtained name when ok, and returns the names obtained so far (-1 if the count could not be read).
func (c *clusterLimits) reserve(ctx context.Context, group, name string, max int, sites []string) (done func(ok bool) int, err error) {
	if c.exists(ctx, nameKey(group, name)) {
		return func(bool) int { return c.obtained(group) }, nil // obtained before: not a new name
	}
	err = c.withLock(ctx, countLock(group), func() error {
		var rec odCountRecord
		if _, err := c.load(ctx, countKey(group), &rec); err != nil {
			return errStorage("reading the max_certs count", err)
		}
		if n := rec.inUse(c.clock()); n >= max {
			return maxCertsErr(n, max)
		}
		if rec.Pending == nil {
			rec.Pending = make(map[string]time.Time)
		}
		rec.Pending[name] = c.clock().Add(odPendingTTL)
		rec.Sites, rec.MaxCerts = displayPatterns(sites), max
		if err := c.store(ctx, countKey(group), &rec); err != nil {
			return errStorage("reserving a max_certs slot", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ok bool) int {
		// the order's context may be over: the slot is settled on a context of its own
		ctx := context.Background()
		obtained := -1
		err := c.withLock(ctx, countLock(group), func() error {
			var rec odCountRecord
			if _, err := c.load(ctx, countKey(group), &rec); err != nil {
				return err
			}
			delete(rec.Pending, name)
			if ok && !c.exists(ctx, nameKey(group, name)) {
				if err := c.store(ctx, nameKey(group, name), map[string]time.Time{"obtained": c.clock()}); err != nil {
					return err
				}
				rec.Obtained++
			}
			obtained = rec.Obtained
			return c.store(ctx, countKey(group), &rec)
		})
		if err != nil {
			c.log.Error("recording a max_certs slot in the shared storage; a reservation lapses by itself",
				zap.String("name", name), zap.Bool("obtained", ok), zap.Duration("lapses_after", odPendingTTL), zap.Error(err))
		}
		return obtained
	}, nil
}

// obtained returns the group's count of obtained names, or -1 if it cannot be read.
func (c *clusterLimits) obtained(group string) int {
	var rec odCountRecord
	if _, err := c.load(context.Background(), countKey(group), &rec); err != nil {
		return -1
	}
	return rec.Obtained
}

// odRateRecord is the state of the built-in rate limits shared by the cluster.
type odRateRecord struct {
	Obtained int                  `json:"obtained"`
	Last     time.Time            `json:"last_success,omitzero"`
	Failed   map[string]time.Time `json:"failed,omitempty"` // name → when its challenge failed
	Busy     *odBusy              `json:"busy,omitempty"`   // the challenge in progress (storages without quick TryLock)
}

// odBusy marks the one challenge in progress in the cluster.
type odBusy struct {
	Name  string    `json:"name"`
	Token string    `json:"token"`
	Until time.Time `json:"until"` // lapses after this, should its instance have crashed
}

// denial returns why a challenge for name may not start at now, or nil.
func (r *odRateRecord) denial(name string, now time.Time) error {
	busy := ""
	if r.Busy != nil && now.Before(r.Busy.Until) {
		busy = r.Busy.Name
	}
	at, failed := r.Failed[name]
	return rateDenial(busy, at, failed, r.Obtained, r.Last, now)
}

// settle records the end of a challenge for name and forgets failures older than failedNamePause.
func (r *odRateRecord) settle(name string, ok bool, now time.Time) {
	for n, at := range r.Failed {
		if !now.Before(at.Add(failedNamePause)) {
			delete(r.Failed, n)
		}
	}
	if ok {
		r.Obtained++
		r.Last = now
		delete(r.Failed, name)
		return
	}
	if r.Failed == nil {
		r.Failed = make(map[string]time.Time)
	}
	r.Failed[name] = now
}

// rateCheck returns why the shared rate limits refuse a challenge for name now, or nil.
func (c *clusterLimits) rateCheck(ctx context.Context, name string) error {
	var rec odRateRecord
	if _, err := c.load(ctx, odRateKey, &rec); err != nil {
		return errStorage("reading the rate limits", err)
	}
	return rec.denial(name, c.clock())
}

// begin starts a challenge for name if the shared rate limits allow it: one at a time in the cluster,
// the 10-then-10-minutes pause and the per-name failure pause. end settles it (ok: a certificate was
// obtained). A challenge already running elsewhere denies at once; nothing waits for it.
func (c *clusterLimits) begin(ctx context.Context, name string) (end func(ok bool), err error) {
	if c.try != nil {
		return c.beginTryLock(ctx, name)
	}
	token := randomToken()
	err = c.withLock(ctx, odRateLock, func() error {
		var rec odRateRecord
		if _, err := c.load(ctx, odRateKey, &rec); err != nil {
			return errStorage("reading the rate limits", err)
		}
		now := c.clock()
		if err := rec.denial(name, now); err != nil {
			return err
		}
		rec.Busy = &odBusy{Name: name, Token: c.id + "/" + token, Until: now.Add(odPendingTTL)}
		if err := c.store(ctx, odRateKey, &rec); err != nil {
			return errStorage("marking the challenge slot busy", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(ok bool) {
		ctx := context.Background()
		err := c.withLock(ctx, odRateLock, func() error {
			var rec odRateRecord
			if _, err := c.load(ctx, odRateKey, &rec); err != nil {
				return err
			}
			if rec.Busy != nil && rec.Busy.Token == c.id+"/"+token {
				rec.Busy = nil
			}
			rec.settle(name, ok, c.clock())
			return c.store(ctx, odRateKey, &rec)
		})
		if err != nil {
			c.log.Error("recording the end of an on-demand challenge in the shared storage; the busy mark lapses by itself",
				zap.String("name", name), zap.Duration("lapses_after", odPendingTTL), zap.Error(err))
		}
	}, nil
}

// beginTryLock is begin on a storage with a quick TryLock: the challenge holds the lock odChallengeLock,
// so only its holder writes the rate record meanwhile. A crashed holder's lease expires by itself.
func (c *clusterLimits) beginTryLock(ctx context.Context, name string) (end func(ok bool), err error) {
	lctx, cancel := context.WithTimeout(ctx, c.opTimeout)
	got, err := c.acquire(lctx, odChallengeLock, true)
	cancel()
	if err != nil {
		return nil, errStorage("taking the challenge lock", err)
	}
	if !got {
		return nil, errors.New("rate limit: another on-demand challenge is in progress in the cluster; one at a time")
	}
	var rec odRateRecord
	if _, err := c.load(ctx, odRateKey, &rec); err != nil {
		c.unlock(odChallengeLock)
		return nil, errStorage("reading the rate limits", err)
	}
	rec.Busy = nil // the lock, not the record, says whether a challenge runs
	if err := rec.denial(name, c.clock()); err != nil {
		c.unlock(odChallengeLock)
		return nil, err
	}
	return func(ok bool) {
		defer c.unlock(odChallengeLock)
		ctx := context.Background()
		var rec odRateRecord
		_, err := c.load(ctx, odRateKey, &rec)
		if err == nil {
			rec.Busy = nil
			rec.settle(name, ok, c.clock())
			err = c.store(ctx, odRateKey, &rec)
		}
		if err != nil {
			c.log.Error("recording the end of an on-demand challenge in the shared storage",
				zap.String("name", name), zap.Bool("obtained", ok), zap.Error(err))
		}
	}, nil
}
