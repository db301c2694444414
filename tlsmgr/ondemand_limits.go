package tlsmgr

import (
	"fmt"
	"sync"
	"time"
)

// The built-in on-demand rate limits of the automatic HTTPS page; they apply to sites without `ask`.
const (
	burstCerts      = 10               // after this many certificates obtained on demand...
	burstPause      = 10 * time.Minute // ...no new challenge until this long after the last success
	failedNamePause = 5 * time.Minute  // a name whose challenge failed waits this long before a new try
	failedNamesKept = 256              // above this many remembered failures, expired ones are pruned
)

// rateLimits are the process-wide built-in limits for on-demand challenges: at most one at a time; after
// burstCerts successes, none until burstPause after the last success; a failed name waits failedNamePause.
// They live in memory only, so they reset when the process exits.
type rateLimits struct {
	now func() time.Time // the clock; nil means time.Now

	mu       sync.Mutex
	busy     string // the name being challenged now, "" when none
	obtained int    // certificates obtained on demand under these limits
	last     time.Time
	failed   map[string]time.Time // name → when its challenge failed
}

func (r *rateLimits) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// check returns why a challenge for name may not start now, or nil; it reserves nothing.
func (r *rateLimits) check(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checkLocked(name, r.clock())
}

func (r *rateLimits) checkLocked(name string, now time.Time) error {
	at, failed := r.failed[name]
	return rateDenial(r.busy, at, failed, r.obtained, r.last, now)
}

// rateDenial applies the built-in limits: busy is the name being challenged ("" when none), failedAt when
// name's last challenge failed (if failed), obtained the certificates obtained so far, last the latest.
func rateDenial(busy string, failedAt time.Time, failed bool, obtained int, last, now time.Time) error {
	if busy != "" {
		return fmt.Errorf("rate limit: another on-demand challenge (%s) is in progress; one at a time", busy)
	}
	if failed && now.Before(failedAt.Add(failedNamePause)) {
		return fmt.Errorf("rate limit: the last challenge for this name failed %v ago; no new try before %v have passed",
			now.Sub(failedAt).Round(time.Second), failedNamePause)
	}
	if obtained >= burstCerts && now.Before(last.Add(burstPause)) {
		return fmt.Errorf("rate limit: %d certificates obtained on demand, the last %v ago; no new challenge before %v have passed",
			obtained, now.Sub(last).Round(time.Second), burstPause)
	}
	return nil
}

// begin starts a challenge for name if the limits allow it; the returned func ends it, recording whether
// a certificate was obtained. Exactly one challenge can be in progress.
func (r *rateLimits) begin(name string) (end func(ok bool), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkLocked(name, r.clock()); err != nil {
		return nil, err
	}
	r.busy = name
	return func(ok bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.busy = ""
		now := r.clock()
		if ok {
			r.obtained++
			r.last = now
			delete(r.failed, name)
			return
		}
		if r.failed == nil {
			r.failed = make(map[string]time.Time)
		}
		if len(r.failed) >= failedNamesKept {
			for n, at := range r.failed {
				if !now.Before(at.Add(failedNamePause)) {
					delete(r.failed, n)
				}
			}
		}
		r.failed[name] = now
	}, nil
}

// certCounter enforces `max_certs`: certificates obtained on demand over the process lifetime. A slot is
// reserved before an order and released if it fails, so concurrent orders never overshoot the cap.
type certCounter struct {
	mu       sync.Mutex
	issued   int
	reserved int
}

// full reports whether max more certificates (issued or in flight) are already accounted for.
func (c *certCounter) full(max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.issued+c.reserved >= max
}

// reserve takes a slot under max; done releases it, counting the certificate when ok.
func (c *certCounter) reserve(max int) (done func(ok bool), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.issued+c.reserved >= max {
		return nil, fmt.Errorf("max_certs: %d certificates already obtained on demand (or being obtained); the limit is %d", c.issued+c.reserved, max)
	}
	c.reserved++
	return func(ok bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.reserved--
		if ok {
			c.issued++
		}
	}, nil
}

// count returns how many certificates were obtained.
func (c *certCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.issued
}
