package httpserver

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Draining a server without dropping requests.
//
// http.Server.Shutdown alone drops a request in one case that matters for reloads: a connection that
// was accepted but whose first request is read after Shutdown began is closed without an answer, and
// since the connection was fresh, clients do not retry. So a server stops in two phases:
//
//  1. It stops taking connections from the shared socket (the new instance takes them all), waits for
//     its accept loop to end, and turns keep-alives off. Idle HTTP/1 connections are closed (clients
//     retry on a reused connection); every other HTTP/1 connection, fresh ones included, gets its
//     request answered with "Connection: close". It waits until no HTTP/1 connection is left.
//  2. It calls Shutdown, which sends HTTP/2 GOAWAY frames (clients retry refused streams elsewhere)
//     and waits for the remaining connections. When ctx ends first, the rest are closed.

// connTracker knows the open connections of one server and which of them speak HTTP/2.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]*connInfo
}

// connInfo is stored in each connection's context, so HTTP/2 requests can mark their connection.
type connInfo struct {
	h2 atomic.Bool
}

type connInfoKey struct{}

// connContext registers a new connection (http.Server.ConnContext).
func (t *connTracker) connContext(ctx context.Context, c net.Conn) context.Context {
	ci := new(connInfo)
	t.mu.Lock()
	if t.conns == nil {
		t.conns = make(map[net.Conn]*connInfo)
	}
	t.conns[c] = ci
	t.mu.Unlock()
	return context.WithValue(ctx, connInfoKey{}, ci)
}

// connState forgets closed and hijacked connections (http.Server.ConnState).
func (t *connTracker) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// markHTTP2 records that r arrived over an HTTP/2 connection.
func markHTTP2(r *http.Request) {
	if ci, ok := r.Context().Value(connInfoKey{}).(*connInfo); ok && !ci.h2.Load() {
		ci.h2.Store(true)
	}
}

// http1Conns counts the open connections not known to speak HTTP/2.
func (t *connTracker) http1Conns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, ci := range t.conns {
		if !ci.h2.Load() {
			n++
		}
	}
	return n
}

// drain stops the server as described above. It reports whether it had to close connections because
// ctx ended.
func (s *server) drain(ctx context.Context) (forced bool) {
	_ = s.ln.Close()
	<-s.served // every accepted connection is now registered
	delay := time.Millisecond
	for {
		s.http.SetKeepAlivesEnabled(false) // also closes idle HTTP/1 connections
		if s.conns.http1Conns() == 0 {
			break
		}
		select {
		case <-ctx.Done():
			_ = s.http.Close()
			return true
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
		return true
	}
	return false
}
