package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"go.uber.org/zap"
)

// Start provisions the handlers (Provisioner), takes the listeners from pool (reusing the sockets the
// pool already holds for the same addresses) and serves. On any error it undoes what it did: handlers
// provisioned so far are closed and the sockets are given back.
func (in *Instance) Start(ctx context.Context, pool *ListenerPool) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != stateBuilt {
		return errors.New("starting instance: an instance can be started only once")
	}
	in.state = stateStopped // unless everything below succeeds
	plans, err := planListeners(in.sites, in.opts)
	if err != nil {
		return err
	}
	if err := in.provision(ctx); err != nil {
		return errors.Join(err, in.closeHandlers())
	}
	var servers []*server
	for _, p := range plans {
		s, err := in.acquire(pool, p)
		if err != nil {
			releaseAll(pool, servers)
			return errors.Join(fmt.Errorf("listening on %s: %w%s", p.addr, err, bindHint(plans, p)), in.closeHandlers())
		}
		servers = append(servers, s)
	}
	for _, s := range servers {
		s.serve()
		in.log.Info("serving", zap.String("address", s.plan.addr), zap.Stringer("bound", s.sock.ln.Addr()),
			zap.Bool("tls", s.plan.tls), zap.Bool("http3", s.h3 != nil), zap.Strings("sites", siteNames(s.plan.sites)))
	}
	in.servers, in.pool, in.state = servers, pool, stateStarted
	return nil
}

// Stop stops accepting new connections, waits for in-flight requests until ctx is done (then closes
// the remaining connections), closes the handlers that implement io.Closer and gives its sockets back
// to the pool, which closes a socket only when no running instance holds it anymore. Running out of
// time is logged, not returned: the instance is stopped either way. Stop is idempotent.
func (in *Instance) Stop(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != stateStarted {
		in.state = stateStopped
		return nil
	}
	in.state = stateStopped
	var wg sync.WaitGroup
	for _, s := range in.servers {
		wg.Go(func() {
			if s.drain(ctx) {
				in.log.Warn("grace period over; closed remaining connections", zap.String("address", s.plan.addr))
			}
		})
		if s.h3 != nil {
			wg.Go(func() {
				if s.h3.drain(ctx) {
					in.log.Warn("grace period over; closed remaining HTTP/3 connections", zap.String("address", s.plan.addr))
				}
			})
		}
	}
	wg.Wait()
	err := in.closeHandlers()
	releaseAll(in.pool, in.servers)
	in.servers = nil
	return err
}

// acquire makes the server of p on the pool's sockets for its address: TCP, and UDP for HTTP/3.
func (in *Instance) acquire(pool *ListenerPool, p *listenerPlan) (*server, error) {
	sock, err := pool.acquire(p.addr)
	if err != nil {
		return nil, err
	}
	s := newServer(p, in.opts, in.log)
	s.sock = sock
	if p.tls && in.opts.HTTP3 {
		ps, err := pool.acquirePacket(p.addr)
		if err != nil {
			pool.release(sock)
			return nil, fmt.Errorf("HTTP/3 (UDP): %w", err)
		}
		s.h3 = newH3(s, ps)
	}
	return s, nil
}

// releaseAll gives the servers' sockets back to the pool.
func releaseAll(pool *ListenerPool, servers []*server) {
	for _, s := range servers {
		pool.release(s.sock)
		if s.h3 != nil {
			pool.releasePacket(s.h3.sock)
		}
	}
}

// ListenerAddrs returns the addresses the running instance's sockets are bound to (useful with port 0).
func (in *Instance) ListenerAddrs() []net.Addr {
	in.mu.Lock()
	defer in.mu.Unlock()
	addrs := make([]net.Addr, 0, len(in.servers))
	for _, s := range in.servers {
		addrs = append(addrs, s.sock.ln.Addr())
	}
	return addrs
}

// provision calls Provision on every handler of every site that has it, innermost first, remembering
// which handlers must be closed later.
func (in *Instance) provision(ctx context.Context) error {
	in.closers = in.closers[:0]
	for _, site := range in.sites {
		for _, h := range site.handlers {
			p, isProv := h.(Provisioner)
			if _, isCloser := h.(io.Closer); isCloser {
				in.closers = append(in.closers, h)
			}
			if !isProv {
				continue
			}
			if err := p.Provision(ctx, site); err != nil {
				return fmt.Errorf("provisioning site %s: %w", site.Addr.Key(), err)
			}
		}
	}
	return nil
}

// closeHandlers closes the remembered io.Closer handlers, outermost and last-provisioned first.
func (in *Instance) closeHandlers() error {
	var errs []error
	for i := len(in.closers) - 1; i >= 0; i-- {
		if err := in.closers[i].(io.Closer).Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing handler: %w", err))
		}
	}
	in.closers = nil
	return errors.Join(errs...)
}

func siteNames(sites []*Site) []string {
	names := make([]string, len(sites))
	for i, s := range sites {
		names[i] = s.Addr.String()
	}
	return names
}

// onlyRedirects reports whether every site is an automatic HTTP→HTTPS redirect.
func onlyRedirects(sites []*Site) bool {
	for _, s := range sites {
		if s.RedirectTo == nil {
			return false
		}
	}
	return len(sites) > 0
}

// bindHint explains the usual cause of a failed bind on Linux: one site binding a specific address on a
// port that another site serves on all interfaces.
func bindHint(plans []*listenerPlan, failed *listenerPlan) string {
	if onlyRedirects(failed.sites) {
		return " (this port only redirects HTTP to HTTPS for automatic HTTPS: allow binding it, change it " +
			"with -http-port, or use tls { no_redirect })"
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	host, port, err := net.SplitHostPort(failed.addr)
	if err != nil {
		return ""
	}
	for _, p := range plans {
		h, pt, err := net.SplitHostPort(p.addr)
		if err == nil && p != failed && pt == port && wildcard(h) != wildcard(host) {
			return fmt.Sprintf(" (some sites on port %s use `bind` and others listen on all interfaces; "+
				"give all sites of a port the same `bind`)", port)
		}
	}
	return ""
}
