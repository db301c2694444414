package status

import (
	"net/http"

	"github.com/casketserver/casket/httpserver"
)

// Status is the `status` middleware.
type Status struct {
	Next  httpserver.Handler
	Rules []Rule // longest path first
}

// ServeHTTP answers with the status of the longest matching base path. Codes from 400 are returned as
// errors, so `errors` pages apply; lower codes are written at once, with no body.
func (st *Status) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	for i := range st.Rules {
		rule := &st.Rules[i]
		if !httpserver.PathMatches(r.URL.Path, rule.Path) {
			continue
		}
		if rule.Code >= 400 {
			return httpserver.Error(rule.Code, nil)
		}
		w.WriteHeader(rule.Code)
		return nil
	}
	return st.Next.ServeHTTP(w, r)
}
