package cluster

import (
	"strings"

	"github.com/caddyserver/certmagic"
)

// IssueLockPrefix begins the name of the lock certmagic takes around obtaining or renewing the certificate
// of a name: "issue_cert_" + name.
const IssueLockPrefix = "issue_cert_"

// Guard is a held lease that a write to storage is conditioned on (a fenced write): the backend stores the
// value only if Token still holds the lock Lock, in the same atomic step as the write.
type Guard struct {
	Lock  string // the lock's name
	Token string // this holder's token for it
	Fence int64  // the lock's fencing token
}

// GuardFor returns the held lease that guards writes of key, if any. A certificate's keys
// (certificates/<issuer>/<name>/...) are guarded by the issuance lock of that name while this instance
// holds it, so a holder that lost its lock cannot overwrite what the new holder stored. If the lease is
// known to be lost already, GuardFor returns ErrLeaseLost. Keys that no held lock covers are not fenced
// (ok is false).
func (l *Locker) GuardFor(key string) (g Guard, ok bool, err error) {
	site, isCert := certSite(key)
	if !isCert {
		return Guard{}, false, nil
	}
	l.mu.Lock()
	var found *lease
	for name, ls := range l.held {
		if strings.HasPrefix(name, IssueLockPrefix) && certmagic.StorageKeys.Safe(name[len(IssueLockPrefix):]) == site {
			found = ls
			break
		}
	}
	l.mu.Unlock()
	if found == nil {
		return Guard{}, false, nil
	}
	found.mu.Lock()
	lost := found.lost
	found.mu.Unlock()
	if lost {
		return Guard{}, false, ErrLeaseLost
	}
	return Guard{Lock: found.name, Token: found.token, Fence: found.fence}, true, nil
}

// certSite returns the (storage-safe) site name of a certificate key certificates/<issuer>/<site>/<file>.
func certSite(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "certificates/")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}
