package httpserver

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// server is the http.Server of one listener address and the sites it serves.
type server struct {
	plan      *listenerPlan
	vhosts    *vhostTable
	log       *zap.Logger
	intercept func(w http.ResponseWriter, r *http.Request) bool
	http      *http.Server
	sock      *socket
	ln        *poolListener
	served    chan struct{} // closed when Serve returned
	conns     connTracker
	h3        *h3Server // HTTP/3 on the UDP socket of the same address (Options.HTTP3), or nil
}

// stdLog sends net/http's own messages (TLS handshake errors and the like) to the debug level.
func stdLog(l *zap.Logger) *log.Logger {
	sl, err := zap.NewStdLogAt(l.Named("stdlib"), zap.DebugLevel)
	if err != nil {
		return zap.NewStdLog(l.Named("stdlib"))
	}
	return sl
}

// serverHeader is shared by every response; net/http only reads it.
var serverHeader = []string{"Casket"}

func newServer(p *listenerPlan, opts Options, log *zap.Logger) *server {
	s := &server{
		plan:   p,
		vhosts: newVhostTable(p.sites),
		log:    log.With(zap.String("listener", p.addr)),
		served: make(chan struct{}),
	}
	if !p.tls {
		s.intercept = opts.Intercept
	}
	t := listenerTimeouts(p.sites)
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(p.tls && !opts.DisableHTTP2)
	s.http = &http.Server{
		Handler:           s,
		ReadTimeout:       t.Read,
		ReadHeaderTimeout: t.ReadHeader,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    listenerMaxHeaderBytes(p.sites),
		ErrorLog:          stdLog(s.log),
		Protocols:         protos,
		ConnContext:       s.conns.connContext,
		ConnState:         s.conns.connState,
	}
	if p.tls {
		s.http.TLSConfig = s.tlsConfig(func(own []string) []string { return mergeALPN(own, opts.DisableHTTP2) })
	}
	return s
}

// tlsConfig builds the listener's TLS config: one prepared copy of each distinct site config, with
// ALPN set by alpn from the config's own protocols, chosen by SNI through the vhost table when the sites
// use more than one.
func (s *server) tlsConfig(alpn func(own []string) []string) *tls.Config {
	prepared := make(map[*tls.Config]*tls.Config)
	perSite := make(map[*Site]*tls.Config, len(s.plan.sites))
	for _, site := range s.plan.sites {
		c := prepared[site.TLSConfig]
		if c == nil {
			c = site.TLSConfig.Clone()
			c.NextProtos = alpn(c.NextProtos)
			prepared[site.TLSConfig] = c
		}
		perSite[site] = c
	}
	if len(prepared) == 1 {
		return perSite[s.plan.sites[0]]
	}
	first := perSite[s.plan.sites[0]]
	return &tls.Config{
		NextProtos: alpn(nil),
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if site := s.vhosts.matchHost(requestHost(hello.ServerName)); site != nil {
				return perSite[site], nil
			}
			return first, nil
		},
	}
}

// mergeALPN puts HTTP's protocols in front of a config's own (such as acme-tls/1), unless the config
// already names HTTP protocols (the `tls { alpn }` choice); h2 is dropped when HTTP/2 is off.
func mergeALPN(own []string, disableHTTP2 bool) []string {
	var out []string
	if !slices.Contains(own, "h2") && !slices.Contains(own, "http/1.1") {
		out = append(out, "h2", "http/1.1")
	}
	out = append(out, own...)
	if disableHTTP2 {
		out = slices.DeleteFunc(out, func(p string) bool { return p == "h2" })
	}
	return out
}

// serve starts serving on the pooled socket.
func (s *server) serve() {
	s.ln = newPoolListener(s.sock)
	if s.h3 != nil {
		s.h3.serve(s.log)
	}
	go func() {
		defer close(s.served)
		var err error
		if s.http.TLSConfig != nil {
			err = s.http.Serve(tls.NewListener(s.ln, s.http.TLSConfig))
		} else {
			err = s.http.Serve(s.ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("serving stopped", zap.Error(err))
		}
	}()
}

// ServeHTTP is the entry point of every request on the listener.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Server"] = serverHeader
	if r.ProtoMajor == 2 {
		markHTTP2(r)
	}
	var st *requestState
	defer func() {
		if v := recover(); v != nil {
			s.recovered(v, w, r, st)
		}
	}()
	if s.intercept != nil && s.intercept(w, r) {
		return
	}
	site := s.vhosts.match(requestHost(r.Host), r.URL.Path)
	if site == nil {
		s.notServed(w, r)
		return
	}
	if site.sniCheck && !sniMatches(r) {
		s.misdirected(w, r)
		return
	}
	if s.h3 != nil && r.ProtoMajor < 3 && !s.h3.noTLS13[site] {
		w.Header()["Alt-Svc"] = s.h3.altSvc
	}
	st = &requestState{}
	st.orig = *r.URL
	st.rec.ResponseWriter = w
	st.info.Site = site
	st.info.OriginalURL = &st.orig
	st.info.Start = time.Now()
	st.info.Recorder = &st.rec
	r = WithRequestInfo(r, &st.info)
	if site.Addr.Path != "" {
		u := *r.URL
		trimBasePath(&u, site.Addr.Path)
		r.URL = &u
	}
	if err := site.chain.ServeHTTP(&st.rec, r); err != nil {
		s.handlerError(st, r, err)
	}
}

// requestState holds everything the server allocates per request, in one allocation.
type requestState struct {
	info RequestInfo
	rec  ResponseRecorder
	orig url.URL // the URL as received
}

// trimBasePath removes a site's base path from the front of u's path, keeping a leading "/".
func trimBasePath(u *url.URL, base string) {
	u.Path = withSlash(u.Path[min(len(base), len(u.Path)):])
	if u.RawPath != "" {
		if len(u.RawPath) >= len(base) && strings.EqualFold(u.RawPath[:len(base)], base) {
			u.RawPath = withSlash(u.RawPath[len(base):])
		} else {
			u.RawPath = ""
		}
	}
}

func withSlash(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

// handlerError is the error boundary: a handler's error becomes its status, unless a response was
// already started.
func (s *server) handlerError(st *requestState, r *http.Request, err error) {
	status := StatusOf(err)
	if !st.rec.Written() {
		writeStatus(&st.rec, status)
	}
	fields := []zap.Field{
		zap.String("site", st.info.Site.Addr.String()),
		zap.String("method", r.Method),
		zap.String("uri", st.orig.RequestURI()),
		zap.Int("status", status),
		zap.Error(err),
	}
	if status >= 500 && r.Context().Err() == nil {
		s.log.Error("handler error", fields...)
	} else {
		s.log.Debug("handler error", fields...)
	}
}

// recovered turns a panic into a 500 (or an aborted connection if the response had started) and logs
// it. http.ErrAbortHandler passes through: it is how a handler asks net/http to drop the connection.
func (s *server) recovered(v any, w http.ResponseWriter, r *http.Request, st *requestState) {
	if v == http.ErrAbortHandler {
		panic(v)
	}
	fields := []zap.Field{
		zap.Any("panic", v),
		zap.String("method", r.Method),
		zap.String("uri", r.RequestURI),
		zap.ByteString("stack", debug.Stack()),
	}
	if st != nil {
		fields = append(fields, zap.String("site", st.info.Site.Addr.String()))
	}
	s.log.Error("panic serving request", fields...)
	if st == nil {
		writeStatus(w, http.StatusInternalServerError)
		return
	}
	if st.rec.Written() {
		panic(http.ErrAbortHandler)
	}
	writeStatus(&st.rec, http.StatusInternalServerError)
}

// notServed answers a request for a host no site of this listener serves: 404 on HTTP/1.x, and 421
// (Misdirected Request) on HTTP/2, whose clients may reuse a connection for another host.
func (s *server) notServed(w http.ResponseWriter, r *http.Request) {
	status := http.StatusNotFound
	if r.ProtoMajor >= 2 {
		status = http.StatusMisdirectedRequest
	}
	host := requestHost(r.Host)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "Site "+host+" is not served on this interface\n")
	s.log.Debug("no site for host", zap.String("host", host), zap.String("remote", r.RemoteAddr))
}

// writeStatus writes status with its text as a plain-text body.
func writeStatus(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status)+"\n")
}

// sniMatches reports whether the TLS server name of r's connection names the host of its Host header,
// as sites with client authentication require (a client certificate checked for one site must not be
// reused for another). Clients send no server name for IP addresses, so an empty one matches an IP host.
func sniMatches(r *http.Request) bool {
	if r.TLS == nil {
		return true
	}
	host := requestHost(r.Host)
	sni := requestHost(r.TLS.ServerName)
	if sni == "" {
		_, err := netip.ParseAddr(host)
		return err == nil
	}
	return sni == host
}

// misdirected answers 403 and closes the connection: the request's Host is not the name its TLS
// connection was set up for (`tls { clients }` without `insecure_disable_sni_matching`).
func (s *server) misdirected(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	writeStatus(w, http.StatusForbidden)
	s.log.Debug("TLS server name does not match Host", zap.String("host", r.Host),
		zap.String("sni", r.TLS.ServerName), zap.String("remote", r.RemoteAddr))
}
