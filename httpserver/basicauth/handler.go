package basicauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"path"
	"path/filepath"

	"github.com/casketserver/casket/httpserver"
)

// DefaultRealm is the realm announced when a rule names none.
const DefaultRealm = "Restricted"

// Rule is one user allowed into a set of base paths.
type Rule struct {
	Username     string
	Password     string   // as written: the password, or "htpasswd=FILE"
	HtpasswdFile string   // set when Password names an htpasswd file
	Resources    []string // protected base paths
	Exclude      []string // base paths left open even though a resource covers them
	Realm        string

	challenge string          // the WWW-Authenticate value
	match     passwordMatcher // nil until known (htpasswd rules get it at Provision)
}

// protects reports whether the (clean) request path is covered by the rule.
func (rule *Rule) protects(p string) bool {
	for _, ex := range rule.Exclude {
		if httpserver.PathMatches(p, ex) {
			return false
		}
	}
	for _, res := range rule.Resources {
		if httpserver.PathMatches(p, res) {
			return true
		}
	}
	return false
}

// Handler asks for Basic credentials on protected paths. A path is protected when any rule covers it,
// and the request passes when the credentials match any of the rules covering it. OPTIONS requests
// (CORS preflights) are never challenged. The Authorization header is passed on unchanged.
type Handler struct {
	Next  httpserver.Handler
	Rules []*Rule
}

// newHandler builds the handler for rule, merging it with a basicauth handler directly below it.
func newHandler(next httpserver.Handler, rule *Rule) *Handler {
	if inner, ok := next.(*Handler); ok {
		rules := append([]*Rule{rule}, inner.Rules...)
		return &Handler{Next: inner.Next, Rules: rules}
	}
	return &Handler{Next: next, Rules: []*Rule{rule}}
}

// Provision reads the htpasswd entries of the rules that use one. Relative file names are resolved
// against the site root.
func (h *Handler) Provision(_ context.Context, s *httpserver.Site) error {
	for _, rule := range h.Rules {
		if rule.HtpasswdFile == "" {
			continue
		}
		file := rule.HtpasswdFile
		if !filepath.IsAbs(file) && s != nil && s.Root != "" {
			file = filepath.Join(s.Root, file)
		}
		m, err := loadHtpasswd(file, rule.Username)
		if err != nil {
			return fmt.Errorf("basicauth: %w", err)
		}
		rule.match = m
	}
	return nil
}

// ServeHTTP checks the credentials of protected requests and sets the {user} placeholder.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodOptions {
		return h.Next.ServeHTTP(w, r)
	}
	p := cleanPath(r.URL.Path)
	var challenge string
	user, pass, hasAuth := r.BasicAuth()
	for _, rule := range h.Rules {
		if !rule.protects(p) {
			continue
		}
		if challenge == "" {
			challenge = rule.challenge
		}
		if hasAuth && rule.accepts(user, pass) {
			httpserver.InfoFrom(r).SetVar("user", user)
			return h.Next.ServeHTTP(w, r)
		}
	}
	if challenge == "" {
		return h.Next.ServeHTTP(w, r)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if !hasAuth {
		return httpserver.Error(http.StatusUnauthorized, nil) // a first visit: nothing worth logging
	}
	return httpserver.Error(http.StatusUnauthorized, fmt.Errorf("basicauth: wrong credentials for user %q", user))
}

// accepts compares the user name and password. The password check is constant-time for plain passwords.
func (rule *Rule) accepts(user, pass string) bool {
	if rule.match == nil { // htpasswd not loaded: fail closed
		return false
	}
	nameOK := subtle.ConstantTimeCompare([]byte(user), []byte(rule.Username)) == 1
	passOK := rule.match(pass) // always run, so a wrong name costs as much as a wrong password
	return nameOK && passOK
}

// passwordMatcher reports whether a password is the right one.
type passwordMatcher func(pass string) bool

// plainMatcher compares SHA-256 digests in constant time, so neither content nor length leaks.
func plainMatcher(want string) passwordMatcher {
	wantSum := sha256.Sum256([]byte(want))
	return func(pass string) bool {
		sum := sha256.Sum256([]byte(pass))
		return subtle.ConstantTimeCompare(sum[:], wantSum[:]) == 1
	}
}

// cleanPath resolves dot segments so "/public/../secret" is protected like "/secret".
func cleanPath(p string) string {
	c := path.Clean("/" + p)
	if len(p) > 1 && p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}
