package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/casketserver/casket/httpserver"
	imetrics "github.com/casketserver/casket/internal/metrics"
)

// Handler records every request that reaches it. Provision takes the registry from the context
// (internal/metrics.NewContext) and leases the metrics endpoint; Close gives the lease back.
type Handler struct {
	Next   httpserver.Handler
	Config Config

	site  atomic.Pointer[imetrics.SiteMetrics] // nil before Provision: requests pass through uncounted
	reg   atomic.Pointer[imetrics.Registry]
	lease *imetrics.Lease
}

// New returns a handler configured by cfg.
func New(next httpserver.Handler, cfg Config) *Handler {
	return &Handler{Next: next, Config: cfg}
}

// Provision finds the process's metrics registry in ctx, prepares the site's series and starts (or
// shares) the metrics endpoint.
func (h *Handler) Provision(ctx context.Context, s *httpserver.Site) error {
	reg := imetrics.FromContext(ctx)
	if reg == nil {
		return errors.New("prometheus: the server provides no metrics registry (internal/metrics.NewContext)")
	}
	name := h.Config.Site
	if name == "" {
		name = s.Addr.String()
	}
	if !h.Config.UseSiteAdr {
		lease, err := reg.Serve(h.Config.Address, h.Config.Path)
		if err != nil {
			return fmt.Errorf("prometheus: %w", err)
		}
		h.lease = lease
	}
	h.reg.Store(reg)
	h.site.Store(reg.Site(name))
	return nil
}

// Close releases the metrics endpoint; it closes when no site of any running configuration uses it.
func (h *Handler) Close() error {
	h.site.Store(nil)
	h.reg.Store(nil)
	lease := h.lease
	h.lease = nil
	return lease.Release()
}

// ServeHTTP calls the next handler and records the status, method, duration (from the start of the
// request) and response size.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if h.Config.UseSiteAdr && r.URL.Path == h.Config.Path {
		if reg := h.reg.Load(); reg != nil {
			reg.Handler().ServeHTTP(w, r)
			return nil
		}
	}
	sm := h.site.Load()
	if sm == nil {
		return h.Next.ServeHTTP(w, r)
	}
	info := httpserver.InfoFrom(r)
	if info.Recorder == nil { // outside the server: record the response ourselves
		info.Recorder = httpserver.NewResponseRecorder(w)
		w = info.Recorder
		r = httpserver.WithRequestInfo(r, info)
	}
	sm.Begin()
	err := h.Next.ServeHTTP(w, r)
	status := info.Recorder.Status()
	if err != nil && !info.Recorder.Written() {
		status = httpserver.StatusOf(err) // the server's error boundary writes it after we return
	} else if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	sm.Done(r.Method, status, time.Since(info.Start), info.Recorder.Size())
	return err
}
