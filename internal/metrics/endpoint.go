package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// endpoint is one metrics listener, shared by every lease on its address.
type endpoint struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returned

	mu    sync.RWMutex
	paths map[string]int // path → number of leases serving it
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, req *http.Request, h http.Handler) {
	e.mu.RLock()
	n := e.paths[req.URL.Path]
	e.mu.RUnlock()
	if n == 0 {
		http.NotFound(w, req)
		return
	}
	h.ServeHTTP(w, req)
}

// Lease is one user's hold on a metrics endpoint; Release gives it back.
type Lease struct {
	r    *Registry
	key  string
	path string
	addr net.Addr
	once sync.Once
}

// Addr returns the address the endpoint is bound to (useful with port 0).
func (l *Lease) Addr() net.Addr { return l.addr }

// Serve makes the metrics available at http://addr + path until the lease is released. Leases share
// listeners: the first one for an address binds it, the last one released closes it, so several sites,
// and the old and new configurations during a reload, use one endpoint. Binding errors are returned
// at once.
func (r *Registry) Serve(addr, path string) (*Lease, error) {
	if r == nil {
		return nil, errors.New("serving metrics: no registry")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.endpoints[addr]
	if e == nil {
		ln, err := r.listen(addr)
		if err != nil {
			return nil, fmt.Errorf("serving metrics on %s: %w", addr, err)
		}
		e = &endpoint{ln: ln, paths: make(map[string]int), done: make(chan struct{})}
		e.srv = &http.Server{
			Handler:           http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { e.ServeHTTP(w, req, r.handler) }),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          zap.NewStdLog(r.log),
		}
		go func() {
			defer close(e.done)
			if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				r.log.Error("metrics endpoint stopped", zap.String("address", addr), zap.Error(err))
			}
		}()
		r.endpoints[addr] = e
		r.log.Info("serving metrics", zap.String("address", ln.Addr().String()), zap.String("path", path))
	}
	e.mu.Lock()
	e.paths[path]++
	e.mu.Unlock()
	return &Lease{r: r, key: addr, path: path, addr: e.ln.Addr()}, nil
}

// Release gives the lease back; the endpoint closes when its last lease is released. Calling it again
// does nothing.
func (l *Lease) Release() error {
	if l == nil {
		return nil
	}
	var err error
	l.once.Do(func() { err = l.r.release(l.key, l.path) })
	return err
}

func (r *Registry) release(key, path string) error {
	r.mu.Lock()
	e := r.endpoints[key]
	if e == nil {
		r.mu.Unlock()
		return nil
	}
	e.mu.Lock()
	if e.paths[path]--; e.paths[path] <= 0 {
		delete(e.paths, path)
	}
	last := len(e.paths) == 0
	e.mu.Unlock()
	if last {
		// Close the socket before unlocking, so a Serve right after can bind the address again.
		delete(r.endpoints, key)
		_ = e.ln.Close()
	}
	r.mu.Unlock()
	if !last {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	if err != nil {
		_ = e.srv.Close()
	}
	<-e.done
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("closing metrics endpoint %s: %w", key, err)
	}
	return nil
}
