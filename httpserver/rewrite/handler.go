package rewrite

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// Rewrite is the `rewrite` middleware. At most one rule rewrites a request, even when the directive is
// used several times: the most specific base path first, then the order of the Casketfile.
type Rewrite struct {
	Next  httpserver.Handler
	Rules []Rule
	Site  *httpserver.Site // destinations are checked under Site.Root, read for each request
}

// rewrittenKey marks a request some rewrite middleware already rewrote.
type rewrittenKey struct{}

// ServeHTTP rewrites r's path (and query) with the first rule that applies, then calls the next handler.
// The URL the client sent stays in httpserver.InfoFrom(r).OriginalURL.
func (rw *Rewrite) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if r.Context().Value(rewrittenKey{}) == nil {
		for i := range rw.Rules {
			if u, ok := rw.Rules[i].rewrite(r, rw.root()); ok {
				r = r.WithContext(context.WithValue(r.Context(), rewrittenKey{}, true))
				r.URL = u
				break
			}
		}
	}
	return rw.Next.ServeHTTP(w, r)
}

func (rw *Rewrite) root() string {
	if rw.Site == nil {
		return ""
	}
	if rw.Site.Root == "" {
		return "."
	}
	return rw.Site.Root
}

// rewrite returns the rewritten URL when the rule applies to r.
func (rule *Rule) rewrite(r *http.Request, root string) (*url.URL, bool) {
	p := r.URL.Path
	if !rule.Simple && !httpserver.PathMatches(p, rule.Base) {
		return nil, false
	}
	if !rule.extOK(p) {
		return nil, false
	}
	var rp *httpserver.Replacer
	if rule.Regexp != nil {
		subject := p
		if !rule.Simple {
			// Match the part after the base, keeping its leading slash.
			subject = p[len(strings.TrimSuffix(rule.Base, "/")):]
		}
		if rule.Negate {
			if rule.Regexp.MatchString(subject) {
				return nil, false
			}
		} else {
			m := rule.Regexp.FindStringSubmatch(subject)
			if m == nil {
				return nil, false
			}
			if len(m) > 1 {
				rp = httpserver.NewReplacer(r, "")
				for i := 1; i < len(m); i++ {
					rp.Set(strconv.Itoa(i), m[i])
				}
			}
		}
	}
	if rule.Conds.Len() > 0 {
		if rp == nil && rule.Conds.UsesPlaceholders() {
			rp = httpserver.NewReplacer(r, "")
		}
		if !rule.Conds.Eval(rp) {
			return nil, false
		}
	}
	return rule.destination(r, rp, root), true
}

// extOK applies the ext filters to the request path.
func (rule *Rule) extOK(p string) bool {
	if len(rule.exts) == 0 {
		return true
	}
	ext := path.Ext(p)
	if ext == "" {
		ext = "/"
	}
	for _, f := range rule.exts {
		if strings.EqualFold(ext, f.ext) {
			return f.include
		}
	}
	return !rule.mustMatch
}

// destination picks the first destination that exists under root (a file, or a directory when it ends in
// "/"), or the last one, and returns r's URL changed to it. A query in the destination replaces the
// request's query; a destination that is only "?query" keeps the path.
func (rule *Rule) destination(r *http.Request, rp *httpserver.Replacer, root string) *url.URL {
	var target, query string
	var hasQuery bool
	for i := range rule.to {
		d := &rule.to[i]
		if (d.pathDyn || d.queryDyn) && rp == nil {
			rp = httpserver.NewReplacer(r, "")
		}
		p, q := d.path, d.query
		if d.pathDyn {
			p = rp.Replace(p)
		}
		if d.queryDyn {
			q = rp.Replace(q)
		}
		query, hasQuery = q, d.hasQuery
		if !hasQuery && d.pathDyn {
			// A placeholder such as {uri} may bring its own query.
			p, query, hasQuery = strings.Cut(p, "?")
		}
		target = cleanPath(p, r.URL.Path)
		if i == len(rule.to)-1 || exists(root, target) {
			break
		}
	}
	u := *r.URL
	u.Path, u.RawPath = target, ""
	if hasQuery {
		u.RawQuery = query
	}
	return &u
}

// cleanPath makes p absolute and clean, keeping a trailing slash; an empty p means current.
func cleanPath(p, current string) string {
	if p == "" {
		return current
	}
	trailing := strings.HasSuffix(p, "/")
	if p[0] != '/' {
		p = "/" + p
	}
	p = path.Clean(p)
	if trailing && p != "/" {
		p += "/"
	}
	return p
}

// exists reports whether the clean URL path p names a file under root, or a directory if p ends in "/".
func exists(root, p string) bool {
	if root == "" {
		return false
	}
	fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil {
		return false
	}
	return fi.IsDir() == strings.HasSuffix(p, "/")
}
