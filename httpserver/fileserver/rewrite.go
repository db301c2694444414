package fileserver

import (
	"net/http"
	"net/url"
)

// withPath returns a shallow copy of r whose URL has path p (and rawQuery when setQuery), leaving r
// untouched for the handlers that ran before.
func withPath(r *http.Request, p string, rawQuery string, setQuery bool) *http.Request {
	r2 := r.WithContext(r.Context())
	u := new(url.URL)
	*u = *r.URL
	u.Path, u.RawPath = p, ""
	if setQuery {
		u.RawQuery = rawQuery
	}
	r2.URL = u
	return r2
}
