package basicauth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
)

// loadHtpasswd reads file and returns the matcher for user's entry. Supported hashes: bcrypt ($2y$, $2a$,
// $2b$) and SHA1 ({SHA}base64). Lines of other users are not checked, so their formats do not matter.
func loadHtpasswd(file, user string) (passwordMatcher, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading htpasswd file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: malformed line, expected user:hash", file, lineNo)
		}
		if name != user {
			continue
		}
		m, err := hashMatcher(hash)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %w", file, lineNo, user, err)
		}
		return m, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading htpasswd file %s: %w", file, err)
	}
	return nil, fmt.Errorf("user %q not found in htpasswd file %s", user, file)
}

// hashMatcher returns a matcher for one htpasswd hash.
func hashMatcher(hash string) (passwordMatcher, error) {
	switch {
	case strings.HasPrefix(hash, "$2y$"), strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"):
		// Go's bcrypt reads $2a$ and $2b$; $2y$ (PHP, Apache) is the same algorithm.
		h := []byte(hash)
		if strings.HasPrefix(hash, "$2y$") {
			h = []byte("$2a$" + hash[4:])
		}
		if _, err := bcrypt.Cost(h); err != nil {
			return nil, fmt.Errorf("invalid bcrypt hash: %w", err)
		}
		return bcryptMatcher(h), nil
	case strings.HasPrefix(hash, "{SHA}"):
		want, err := base64.StdEncoding.DecodeString(hash[len("{SHA}"):])
		if err != nil || len(want) != sha1.Size {
			return nil, fmt.Errorf("invalid {SHA} hash")
		}
		return func(pass string) bool {
			sum := sha1.Sum([]byte(pass))
			return subtle.ConstantTimeCompare(sum[:], want) == 1
		}, nil
	}
	return nil, fmt.Errorf("unsupported password hash (use bcrypt, e.g. `htpasswd -B`, or {SHA})")
}

// bcryptMatcher checks passwords against a bcrypt hash. bcrypt is slow on purpose (tens of milliseconds),
// too slow to pay on every request of a logged-in browser, so the matcher remembers a salted SHA-256
// digest of the last password that matched and compares against it in constant time first. Wrong
// passwords still cost a full bcrypt comparison.
func bcryptMatcher(hash []byte) passwordMatcher {
	var salt [16]byte
	_, _ = rand.Read(salt[:])
	digest := func(pass string) [32]byte {
		return sha256.Sum256(append(salt[:len(salt):len(salt)], pass...))
	}
	var known atomic.Pointer[[32]byte]
	return func(pass string) bool {
		sum := digest(pass)
		if k := known.Load(); k != nil && subtle.ConstantTimeCompare(sum[:], k[:]) == 1 {
			return true
		}
		if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
			return false
		}
		known.Store(&sum)
		return true
	}
}
