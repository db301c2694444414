// Package basicauth implements the `basicauth` directive: HTTP Basic authentication for base paths, with
// plain-text passwords from the Casketfile or bcrypt/SHA1 hashes from an htpasswd file.
package basicauth

import (
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// htpasswdPrefix marks a password argument that names an htpasswd file instead of a password.
const htpasswdPrefix = "htpasswd="

// Setup parses one `basicauth` segment:
//
//	basicauth path user pass
//	basicauth [path] user pass {
//		realm   name
//		exclude path...
//		path...          (more protected base paths, one or more per line)
//	}
//
// pass is either the password or htpasswd=FILE (FILE relative to the site root; read at Provision).
// A block form without any path protects the whole site. Several basicauth segments in a site merge
// into one handler, so different users may share a path (any one of them is let in).
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next() // directive name
	rule := &Rule{}
	args := d.RemainingArgs()
	switch len(args) {
	case 2:
		rule.Username, rule.Password = args[0], args[1]
	case 3:
		if !strings.HasPrefix(args[0], "/") {
			return nil, d.Errf("path %q must start with /", args[0])
		}
		rule.Resources = append(rule.Resources, args[0])
		rule.Username, rule.Password = args[1], args[2]
	default:
		return nil, d.Errf("expected `basicauth path user password` or `basicauth user password { ... }`, got %d arguments", len(args))
	}
	if rule.Username == "" {
		return nil, d.Errf("empty user name")
	}
	if strings.Contains(rule.Username, ":") {
		return nil, d.Errf("user name %q must not contain ':'", rule.Username)
	}
	if file, ok := strings.CutPrefix(rule.Password, htpasswdPrefix); ok {
		if file == "" {
			return nil, d.Errf("htpasswd= needs a file name, e.g. htpasswd=/etc/casket/users")
		}
		rule.HtpasswdFile = file
	} else {
		rule.match = plainMatcher(rule.Password)
	}
	for d.NextBlock(0) {
		sub := d.Val()
		vals := d.RemainingArgs()
		switch sub {
		case "realm":
			if len(vals) != 1 {
				return nil, d.Errf("realm: expected exactly one name")
			}
			if rule.Realm != "" {
				return nil, d.Errf("realm may be given only once")
			}
			rule.Realm = vals[0]
		case "exclude":
			if len(vals) == 0 {
				return nil, d.Errf("exclude: expected one or more paths")
			}
			for _, p := range vals {
				if !strings.HasPrefix(p, "/") {
					return nil, d.Errf("exclude: path %q must start with /", p)
				}
			}
			rule.Exclude = append(rule.Exclude, vals...)
		default:
			for _, p := range append([]string{sub}, vals...) {
				if !strings.HasPrefix(p, "/") {
					return nil, d.Errf("unknown subdirective or path %q (expected realm, exclude, or a path starting with /)", p)
				}
				rule.Resources = append(rule.Resources, p)
			}
		}
	}
	if len(rule.Resources) == 0 {
		rule.Resources = []string{"/"}
	}
	if rule.Realm == "" {
		rule.Realm = DefaultRealm
	}
	rule.challenge = `Basic realm="` + quoteRealm(rule.Realm) + `"`
	return func(next httpserver.Handler) httpserver.Handler {
		return newHandler(next, rule)
	}, nil
}

// quoteRealm escapes a realm for use inside a quoted-string.
func quoteRealm(realm string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(realm)
}
