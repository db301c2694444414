package redir

import (
	"errors"
	"html"
	"io"
	"net/http"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// Redirect is the `redir` middleware. The first matching rule answers; otherwise the request goes on.
type Redirect struct {
	Next  httpserver.Handler
	Rules []Rule
}

// ServeHTTP redirects when a rule's path and conditions match.
func (rd *Redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	var rp *httpserver.Replacer
	for i := range rd.Rules {
		rule := &rd.Rules[i]
		if rule.From != "/" && r.URL.Path != rule.From {
			continue
		}
		if rp == nil && (rule.dynamic || rule.Conds.UsesPlaceholders()) {
			rp = httpserver.NewReplacer(r, "")
		}
		if !rule.Conds.Eval(rp) {
			continue
		}
		to := rule.To
		if rule.dynamic {
			to = rp.Replace(to)
		}
		if rule.From == "/" && isCurrentURL(to, r) {
			continue // a catch-all pointing at this very URL would loop
		}
		if rule.Meta {
			if rule.dynamic && !safeScheme(to) {
				return httpserver.Error(http.StatusBadRequest,
					errors.New("redir: refusing a meta redirect to a non-HTTP URL built from the request"))
			}
			return writeMeta(w, to)
		}
		http.Redirect(w, r, to, rule.Code)
		return nil
	}
	return rd.Next.ServeHTTP(w, r)
}

// isCurrentURL reports whether to names the URL the client asked for, as a path or as an absolute URL.
func isCurrentURL(to string, r *http.Request) bool {
	uri := httpserver.InfoFrom(r).OriginalURL.RequestURI()
	if strings.HasPrefix(to, "/") && !strings.HasPrefix(to, "//") {
		return to == uri
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	n := len(scheme) + len(r.Host)
	return len(to) == n+len(uri) &&
		strings.EqualFold(to[:len(scheme)], scheme) &&
		strings.EqualFold(to[len(scheme):n], r.Host) &&
		to[n:] == uri
}

// safeScheme reports whether a link target is relative or uses http or https, as a browser would read
// it (ignoring leading spaces and control characters, and tabs or line breaks anywhere).
func safeScheme(target string) bool {
	i := 0
	for i < len(target) && target[i] <= ' ' {
		i++
	}
	var scheme []byte
	for ; i < len(target); i++ {
		c := target[i]
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			continue
		case c == ':':
			s := strings.ToLower(string(scheme))
			return s == "http" || s == "https"
		case c == '/' || c == '?' || c == '#':
			return true
		}
		scheme = append(scheme, c)
	}
	return true
}

// writeMeta answers 200 with a page that sends browsers to target through a meta refresh.
func writeMeta(w http.ResponseWriter, target string) error {
	safe := html.EscapeString(target)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, `<!DOCTYPE html>
<html>
<head><meta http-equiv="refresh" content="0; url='`+safe+`'"><title>Redirecting</title></head>
<body>This page has moved to <a href="`+safe+`">`+safe+`</a>.</body>
</html>
`)
	return err
}
