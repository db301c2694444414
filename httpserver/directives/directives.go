// Package directives is the ordered table of every Casketfile directive compiled into Casket. The order of
// the table is the order of the middleware chain (the first directive wraps all the others); the order of
// directives in a Casketfile does not matter. Nothing registers itself: adding a directive means adding a
// line here.
package directives

import (
	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/accesslog"
	"github.com/casketserver/casket/httpserver/basicauth"
	"github.com/casketserver/casket/httpserver/bind"
	"github.com/casketserver/casket/httpserver/encode"
	"github.com/casketserver/casket/httpserver/errorpages"
	"github.com/casketserver/casket/httpserver/fastcgi"
	"github.com/casketserver/casket/httpserver/fileserver"
	"github.com/casketserver/casket/httpserver/header"
	"github.com/casketserver/casket/httpserver/internalpath"
	"github.com/casketserver/casket/httpserver/limits"
	"github.com/casketserver/casket/httpserver/metrics"
	"github.com/casketserver/casket/httpserver/mime"
	"github.com/casketserver/casket/httpserver/on"
	"github.com/casketserver/casket/httpserver/proxy"
	"github.com/casketserver/casket/httpserver/redir"
	"github.com/casketserver/casket/httpserver/requestid"
	"github.com/casketserver/casket/httpserver/rewrite"
	"github.com/casketserver/casket/httpserver/status"
	"github.com/casketserver/casket/httpserver/timeouts"
	"github.com/casketserver/casket/tlsmgr"
)

// The full order, from Casket's httpserver/plugin.go (features.md §2), for those adding directives later.
// One deliberate change: prometheus comes before log, so that metrics count every answer.
//
//	root, index, bind, limits, timeouts, tls, on, request_id, realip, prometheus, log, tryfiles, rewrite,
//	ext, gzip, header, geoip, errors, ipfilter, ratelimit, forwardproxy, basicauth, redir, status, cors,
//	mime, tmpauth, chuieauth, jwt, internal, pprof, expvar, push, templates, proxy, fastcgi, websocket,
//	webdav, markdown, browse
//
// Insert a new directive at its place in this list; the static file server is the implicit last handler.

// All returns the compiled-in directives in execution order. The slice is new on every call.
func All() []httpserver.Directive {
	return []httpserver.Directive{
		{Name: "root", Setup: fileserver.SetupRoot},
		{Name: "index", Setup: fileserver.SetupIndex},
		{Name: "bind", Setup: bind.Setup},
		{Name: "limits", Setup: limits.Setup},
		{Name: "timeouts", Setup: timeouts.Setup},
		{Name: "tls", Setup: setupTLS},
		{Name: "on", Setup: on.Setup},
		{Name: "request_id", Setup: requestid.Setup},
		{Name: "prometheus", Setup: metrics.Setup},
		{Name: "log", Setup: accesslog.Setup},
		{Name: "tryfiles", Setup: fileserver.SetupTryFiles},
		{Name: "rewrite", Setup: rewrite.Setup},
		{Name: "ext", Setup: fileserver.SetupExt},
		{Name: "gzip", Setup: encode.Setup},
		{Name: "header", Setup: header.Setup},
		{Name: "errors", Setup: errorpages.Setup},
		{Name: "basicauth", Setup: basicauth.Setup},
		{Name: "redir", Setup: redir.Setup},
		{Name: "status", Setup: status.Setup},
		{Name: "mime", Setup: mime.Setup},
		{Name: "internal", Setup: internalpath.Setup},
		{Name: "proxy", Setup: proxy.Setup},
		{Name: "fastcgi", Setup: fastcgi.Setup},
		{Name: "browse", Setup: fileserver.SetupBrowse},
	}
}

// Names returns the directive names in execution order, as listed by `casket -plugins`.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, d := range all {
		names[i] = d.Name
	}
	return names
}

// setupTLS adapts tlsmgr.ParsePolicy (which knows nothing of sites) to a SetupFunc: the policy becomes the
// site's TLS configuration and the directive adds no middleware. A second `tls` directive in the same
// site is an error rather than silently replacing the first.
func setupTLS(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	if s.TLS != nil {
		d.Next()
		return nil, d.Errf("given more than once in this site; put all its settings in one tls directive")
	}
	p, err := tlsmgr.ParsePolicy(d)
	if err != nil {
		return nil, err
	}
	s.TLS = p
	return nil, nil
}
