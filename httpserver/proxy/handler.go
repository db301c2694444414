package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/casketserver/casket/httpserver"
)

// errNoUpstream is the error behind a 502 when every upstream is down or full.
var errNoUpstream = errors.New("proxy: no upstream available")

// Handler proxies requests under Config.From to the upstreams.
type Handler struct {
	Next   httpserver.Handler
	Config *Config
	// Resolver looks up srv:// upstreams; nil means net.DefaultResolver.
	Resolver *net.Resolver

	policy    policy
	buffers   *bufferPool
	tlsConfig *tls.Config
	viaID     string    // "casket-<random>", the loop marker this handler adds to Via
	via       [4]string // Via values by received protocol: 1.0, 1.1, 2, 3
	stop      context.CancelFunc
	done      chan struct{}
	ready     bool
}

// New returns the proxy handler for cfg in front of next. It must be provisioned before serving.
func New(next httpserver.Handler, cfg *Config) *Handler {
	return &Handler{Next: next, Config: cfg, policy: newPolicy(cfg), buffers: newBufferPool()}
}

// Provision loads the TLS material, builds one transport and reverse proxy per upstream and starts the
// active health checks.
func (h *Handler) Provision(_ context.Context, _ *httpserver.Site) error {
	if h.ready {
		_ = h.Close()
	}
	tc, err := loadTLS(h.Config)
	if err != nil {
		return fmt.Errorf("proxy %s: %w", h.Config.From, err)
	}
	h.tlsConfig = tc
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("proxy: generating loop marker: %w", err)
	}
	h.viaID = "casket-" + hex.EncodeToString(id[:])
	for i, p := range []string{"1.0", "1.1", "2", "3"} {
		h.via[i] = p + " " + h.viaID
	}
	for _, u := range h.Config.Upstreams {
		h.build(u)
	}
	if h.Config.HealthPath != "" {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop, h.done = cancel, make(chan struct{})
		go h.healthLoop(ctx, h.done)
	}
	h.ready = true
	return nil
}

// Close stops the health checks and closes idle upstream connections.
func (h *Handler) Close() error {
	if h.stop != nil {
		h.stop()
		<-h.done
		h.stop = nil
	}
	for _, u := range h.Config.Upstreams {
		if u.transport != nil {
			u.transport.CloseIdleConnections()
		}
	}
	if h.Config.SRV != nil {
		h.Config.SRV.closeIdle()
	}
	h.ready = false
	return nil
}

// build prepares the transport and the reverse proxy of one upstream.
func (h *Handler) build(u *Upstream) {
	u.transport = newTransport(h.Config, u.Network, u.Address, h.tlsConfig)
	u.proxy = &httputil.ReverseProxy{
		Rewrite:      h.rewriter(u),
		Transport:    u.transport,
		BufferPool:   h.buffers,
		ErrorHandler: recordError,
		ErrorLog:     log.New(io.Discard, "", 0),
	}
}

// ServeHTTP proxies the request, retrying other upstreams within try_duration when the attempt failed
// before anything reached the client and the request body can be sent again.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	cfg := h.Config
	if !httpserver.PathMatches(r.URL.Path, cfg.From) || h.excepted(r.URL.Path) {
		return h.Next.ServeHTTP(w, r)
	}
	if !h.ready {
		return httpserver.Error(http.StatusInternalServerError, errors.New("proxy: handler used before Provision"))
	}
	for _, v := range r.Header["Via"] {
		if strings.Contains(v, h.viaID) { // the request came back to the proxy that sent it
			return httpserver.Error(http.StatusLoopDetected, fmt.Errorf("proxy loop: the request to %s already passed through this proxy", r.URL.Path))
		}
	}
	if cfg.Without != "" {
		r = withoutPrefix(r, cfg.Without)
	}
	body, r := prepareBody(r, cfg.TryDuration > 0)
	start := time.Now()
	info := httpserver.InfoFrom(r)
	var lastErr error
	for {
		pool, err := h.pool(r.Context())
		if err != nil {
			return httpserver.Error(http.StatusBadGateway, err)
		}
		if u := h.policy.pick(pool, cfg, r); u != nil && u.acquire(cfg.MaxConns) {
			info.SetVar("upstream", u.Name)
			if body != nil {
				body.rewind(r)
			}
			aw := h.attempt(u, w, r)
			if aw.err == nil {
				return nil
			}
			u.fail(cfg.FailTimeout)
			lastErr = fmt.Errorf("proxying to %s: %w", u.Name, aw.err)
			if aw.wrote || (body != nil && !body.replayable()) {
				return httpserver.Error(http.StatusBadGateway, lastErr)
			}
		} else if lastErr == nil {
			lastErr = errNoUpstream
		}
		if cfg.TryDuration <= 0 || time.Since(start)+cfg.TryInterval > cfg.TryDuration || r.Context().Err() != nil {
			return httpserver.Error(http.StatusBadGateway, lastErr)
		}
		if cfg.TryInterval > 0 {
			t := time.NewTimer(cfg.TryInterval)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return httpserver.Error(http.StatusBadGateway, lastErr)
			}
		}
	}
}

// attempt sends r to u once. The in-flight count is released even when the proxy aborts the
// connection (a response that broke after it started panics with http.ErrAbortHandler).
func (h *Handler) attempt(u *Upstream, w http.ResponseWriter, r *http.Request) *attemptWriter {
	defer u.release()
	aw := &attemptWriter{ResponseWriter: w, ops: h.Config.DownstreamOps, in: r}
	u.proxy.ServeHTTP(aw, r)
	return aw
}

// pool returns the upstreams to choose from: the static list, or the current SRV answer.
func (h *Handler) pool(ctx context.Context) ([]*Upstream, error) {
	if h.Config.SRV == nil {
		return h.Config.Upstreams, nil
	}
	res := h.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	return h.Config.SRV.upstreams(ctx, res, h.build)
}

func (h *Handler) excepted(p string) bool {
	for _, e := range h.Config.Except {
		if httpserver.PathMatches(p, e) {
			return true
		}
	}
	return false
}

// rewriter returns the ReverseProxy hook that aims the outgoing request at u and applies the
// forwarding headers and the header_upstream rules.
func (h *Handler) rewriter(u *Upstream) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		in, out := pr.In, pr.Out
		out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
		if u.Path != "" {
			out.URL.Path = joinPath(u.Path, out.URL.Path)
			if out.URL.RawPath != "" {
				out.URL.RawPath = joinPath(u.Path, out.URL.RawPath)
			}
		}
		out.Host = ""
		hd := out.Header
		ip := clientIP(in)
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
			hd["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ip}
		} else {
			hd["X-Forwarded-For"] = []string{ip}
		}
		if in.TLS != nil {
			hd["X-Forwarded-Proto"] = []string{"https"}
		} else {
			hd["X-Forwarded-Proto"] = []string{"http"}
		}
		if in.Host != "" {
			hd["X-Forwarded-Host"] = []string{in.Host}
		}
		hd["Via"] = append(hd["Via"], h.viaFor(in))
		if ops := h.Config.UpstreamOps; len(ops) > 0 {
			var rp *httpserver.Replacer
			applyOps(ops, hd, in, out, &rp)
		}
	}
}

func (h *Handler) viaFor(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return h.via[0]
	case r.ProtoMajor == 2:
		return h.via[2]
	case r.ProtoMajor == 3:
		return h.via[3]
	}
	return h.via[1]
}

// joinPath joins an upstream path prefix and a request path with exactly one slash between them.
func joinPath(prefix, p string) string {
	switch {
	case strings.HasSuffix(prefix, "/") && strings.HasPrefix(p, "/"):
		return prefix + p[1:]
	case !strings.HasSuffix(prefix, "/") && !strings.HasPrefix(p, "/"):
		return prefix + "/" + p
	}
	return prefix + p
}

// withoutPrefix returns r with prefix cut from the front of its path.
func withoutPrefix(r *http.Request, prefix string) *http.Request {
	p, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return r
	}
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.Path = p
	if u.Path == "" || u.Path[0] != '/' {
		u.Path = "/" + u.Path
	}
	if raw, ok := strings.CutPrefix(u.RawPath, prefix); ok {
		u.RawPath = raw
		if u.RawPath == "" || u.RawPath[0] != '/' {
			u.RawPath = "/" + u.RawPath
		}
	} else {
		u.RawPath = ""
	}
	r2.URL = &u
	return r2
}

// recordError is the ReverseProxy error handler: it keeps the error for the retry loop instead of
// writing a response.
func recordError(w http.ResponseWriter, _ *http.Request, err error) {
	if aw, ok := w.(*attemptWriter); ok {
		aw.err = err
		return
	}
	w.WriteHeader(http.StatusBadGateway)
}

// attemptWriter is the ResponseWriter of one attempt: it notes whether anything reached the client
// and applies the header_downstream rules when the response header is written.
type attemptWriter struct {
	http.ResponseWriter
	ops   []HeaderOp
	in    *http.Request
	err   error
	wrote bool
}

// WriteHeader applies the downstream rules to a final response and writes the header.
func (aw *attemptWriter) WriteHeader(code int) {
	aw.wrote = true
	if code >= 200 && len(aw.ops) > 0 {
		var rp *httpserver.Replacer
		applyOps(aw.ops, aw.ResponseWriter.Header(), aw.in, nil, &rp)
	}
	aw.ResponseWriter.WriteHeader(code)
}

// Write writes body bytes.
func (aw *attemptWriter) Write(b []byte) (int, error) {
	if !aw.wrote {
		aw.WriteHeader(http.StatusOK)
	}
	return aw.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController access to Flush and Hijack.
func (aw *attemptWriter) Unwrap() http.ResponseWriter { return aw.ResponseWriter }

// Hijack hands the connection over (protocol upgrades); the attempt can no longer be retried.
func (aw *attemptWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	aw.wrote = true
	return http.NewResponseController(aw.ResponseWriter).Hijack()
}
