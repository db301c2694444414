package metrics

import (
	"net"
)

// Listeners returns the sockets of the open metrics endpoints, by the address Serve was given, so a
// binary upgrade can hand them to the new process.
func (r *Registry) Listeners() map[string]net.Listener {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]net.Listener, len(r.endpoints))
	for addr, e := range r.endpoints {
		out[addr] = e.ln
	}
	return out
}

// Inherit gives the registry a socket already listening for addr (handed over by the process being
// upgraded): the first Serve for addr uses it instead of binding the address, which the old process
// still holds.
func (r *Registry) Inherit(addr string, ln net.Listener) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inherited == nil {
		r.inherited = make(map[string]net.Listener)
	}
	r.inherited[addr] = ln
}

// CloseInherited closes the inherited sockets no Serve has used (the new configuration has no
// endpoint there anymore).
func (r *Registry) CloseInherited() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for addr, ln := range r.inherited {
		_ = ln.Close()
		delete(r.inherited, addr)
	}
}

// listen returns the inherited socket for addr, or binds it. Callers hold r.mu.
func (r *Registry) listen(addr string) (net.Listener, error) {
	if ln := r.inherited[addr]; ln != nil {
		delete(r.inherited, addr)
		return ln, nil
	}
	return net.Listen("tcp", addr)
}
