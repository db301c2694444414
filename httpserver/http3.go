package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"go.uber.org/zap"
)

// HTTP/3 (Options.HTTP3, the -quic flag).
//
// Every HTTPS listener also gets a UDP socket on the same address, serving HTTP/3 with the same handler
// and the sites' certificates. The ListenerPool owns that socket, keyed by address like the TCP
// sockets, so a reload starts the new instance on the socket the old one still serves: nothing is bound
// twice, so a reload never fails to bind (as Caddy's did, caddy#1816).
//
// One long-lived quic.Transport runs on each UDP socket, with one quic.Listener that does the QUIC and
// TLS handshakes. Each instance's http3.Server takes connections from that listener (ServeListener)
// until it stops, exactly as each instance's http.Server takes connections from the shared TCP accept
// loop: during a reload both instances take connections, and once the old one is stopping only the new
// one does. Handshakes use the TLS config of the holder that started last, so the new instance's
// certificates are served as soon as it is serving. This is simpler than re-creating a Transport per
// instance, which would have to wait for the old instance's connections before the socket could be
// read by the new one. The pool closes the Transport and the socket when the last holder lets go.

// altSvcMaxAge is how long (in seconds) clients may remember the Alt-Svc announcement: 30 days.
const altSvcMaxAge = 2592000

// packetSocket is one UDP socket of the pool with its QUIC transport and listener.
type packetSocket struct {
	addr string
	pc   net.PacketConn
	tr   *quic.Transport
	ln   *quic.Listener
	refs int // guarded by the pool's lock

	mu      sync.Mutex
	holders []*tls.Config // the h3 TLS configs of the servers using the socket, in start order
}

// acquirePacket returns the UDP socket for addr, listening on it if the pool does not hold it yet.
func (p *ListenerPool) acquirePacket(addr string) (*packetSocket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("listener pool is closed")
	}
	if ps := p.udp[addr]; ps != nil {
		ps.refs++
		return ps, nil
	}
	var err error
	pc, adopted := p.adoptedUDP[addr] // inherited from a parent process
	if adopted {
		delete(p.adoptedUDP, addr)
	} else if pc, err = net.ListenPacket("udp", addr); err != nil {
		return nil, err
	}
	ps := &packetSocket{addr: addr, pc: pc, refs: 1}
	ps.tr = &quic.Transport{Conn: pc}
	// Only 1-RTT: 0-RTT requests could be replayed.
	ps.ln, err = ps.tr.Listen(&tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: ps.configForClient}, nil)
	if err != nil {
		_ = ps.tr.Close()
		_ = pc.Close()
		return nil, fmt.Errorf("starting QUIC on %s: %w", addr, err)
	}
	if p.udp == nil {
		p.udp = make(map[string]*packetSocket)
	}
	p.udp[addr] = ps
	return ps, nil
}

// releasePacket gives back one hold on ps and closes it when it was the last.
func (p *ListenerPool) releasePacket(ps *packetSocket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps.refs--
	if ps.refs > 0 {
		return
	}
	if p.udp[ps.addr] == ps {
		delete(p.udp, ps.addr)
	}
	_ = ps.shut()
}

// AdoptPacket hands the pool a UDP socket inherited from a parent process (a USR2 upgrade) for the
// listener address addr; the first instance serving HTTP/3 on addr uses it instead of binding one.
func (p *ListenerPool) AdoptPacket(addr string, pc net.PacketConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("listener pool is closed")
	}
	if p.udp[addr] != nil || p.adoptedUDP[addr] != nil {
		return fmt.Errorf("adopting UDP socket for %s: the pool already holds that address", addr)
	}
	if p.adoptedUDP == nil {
		p.adoptedUDP = make(map[string]net.PacketConn)
	}
	p.adoptedUDP[addr] = pc
	return nil
}

// PacketConn returns the UDP socket the pool serves HTTP/3 on for addr (for handing it to another
// process).
func (p *ListenerPool) PacketConn(addr string) (net.PacketConn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.udp[addr]
	if !ok {
		return nil, false
	}
	return ps.pc, true
}

// CloseQUIC closes every UDP socket of the pool at once, cutting the HTTP/3 connections on them. A
// process that handed its sockets to a successor calls it: the successor reads the same sockets, and
// two readers would split each connection's packets between them. Clients reconnect, to the successor.
func (p *ListenerPool) CloseQUIC() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closePackets()
}

// closeAdoptedPackets closes inherited UDP sockets no instance took. Callers hold the pool's lock.
func (p *ListenerPool) closeAdoptedPackets() {
	for addr, pc := range p.adoptedUDP {
		delete(p.adoptedUDP, addr)
		_ = pc.Close()
	}
}

// closePackets closes every UDP socket of the pool. Callers hold the pool's lock.
func (p *ListenerPool) closePackets() error {
	var errs []error
	for addr, ps := range p.udp {
		delete(p.udp, addr)
		errs = append(errs, ps.shut())
	}
	return errors.Join(errs...)
}

// shut closes the listener (in-flight handshakes are refused), the transport (closing the QUIC
// connections still open) and the socket.
func (ps *packetSocket) shut() error {
	_ = ps.ln.Close()
	_ = ps.tr.Close()
	if err := ps.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing UDP socket %s: %w", ps.addr, err)
	}
	return nil
}

// hold makes c the config that answers handshakes, until it is dropped.
func (ps *packetSocket) hold(c *tls.Config) {
	ps.mu.Lock()
	ps.holders = append(ps.holders, c)
	ps.mu.Unlock()
}

// drop forgets c; handshakes go to the config of the latest holder left.
func (ps *packetSocket) drop(c *tls.Config) {
	ps.mu.Lock()
	ps.holders = slices.DeleteFunc(ps.holders, func(h *tls.Config) bool { return h == c })
	ps.mu.Unlock()
}

// configForClient picks the TLS config of the latest holder for a QUIC handshake.
func (ps *packetSocket) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	ps.mu.Lock()
	var c *tls.Config
	if n := len(ps.holders); n > 0 {
		c = ps.holders[n-1]
	}
	ps.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("no instance serves HTTP/3 on %s", ps.addr)
	}
	if c.GetConfigForClient != nil {
		if cc, err := c.GetConfigForClient(hello); cc != nil || err != nil {
			return cc, err
		}
	}
	return c, nil
}

// h3Server is a server's HTTP/3 side.
type h3Server struct {
	sock   *packetSocket
	tls    *tls.Config // the listener's TLS config with ALPN h3
	http   *http3.Server
	altSvc []string // the Alt-Svc header value announcing it
	// noTLS13 holds the sites whose `tls { protocols }` exclude TLS 1.3, which QUIC requires: their
	// responses do not announce HTTP/3 (their QUIC handshakes fail). Usually empty.
	noTLS13 map[*Site]bool
	served  chan struct{} // closed when ServeListener returned
}

// h3ALPN offers only HTTP/3 on QUIC.
func h3ALPN([]string) []string { return []string{http3.NextProtoH3} }

// newH3 prepares the HTTP/3 side of s on the UDP socket ps.
func newH3(s *server, ps *packetSocket) *h3Server {
	port := 0
	if a, ok := ps.pc.LocalAddr().(*net.UDPAddr); ok {
		port = a.Port
	}
	var noTLS13 map[*Site]bool
	for _, site := range s.plan.sites {
		if v := site.TLSConfig.MaxVersion; v != 0 && v < tls.VersionTLS13 {
			if noTLS13 == nil {
				noTLS13 = make(map[*Site]bool)
			}
			noTLS13[site] = true
		}
	}
	return &h3Server{
		noTLS13: noTLS13,
		sock:    ps,
		tls:     s.tlsConfig(h3ALPN),
		http: &http3.Server{
			Handler:        s,
			MaxHeaderBytes: s.http.MaxHeaderBytes,
			IdleTimeout:    s.http.IdleTimeout,
		},
		altSvc: []string{`h3=":` + strconv.Itoa(port) + `"; ma=` + strconv.Itoa(altSvcMaxAge)},
		served: make(chan struct{}),
	}
}

// serve starts taking connections from the shared QUIC listener.
func (h *h3Server) serve(log *zap.Logger) {
	h.sock.hold(h.tls)
	go func() {
		defer close(h.served)
		err := h.http.ServeListener(sharedQUICListener{h.sock.ln})
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
			log.Error("serving HTTP/3 stopped", zap.Error(err))
		}
	}()
}

// drain stops taking connections, sends GOAWAY on the open ones and waits for their requests until ctx
// ends, then closes what is left. It reports whether it had to close connections.
func (h *h3Server) drain(ctx context.Context) (forced bool) {
	h.sock.drop(h.tls)
	err := h.http.Shutdown(ctx)
	<-h.served
	return err != nil
}

// sharedQUICListener is one http3.Server's view of the pool's QUIC listener: Accept takes the next
// connection (the listener's queue is safe for concurrent Accepts), Close leaves the listener open
// for the other holders.
type sharedQUICListener struct{ ln *quic.Listener }

func (l sharedQUICListener) Accept(ctx context.Context) (*quic.Conn, error) { return l.ln.Accept(ctx) }
func (l sharedQUICListener) Addr() net.Addr                                 { return l.ln.Addr() }
func (l sharedQUICListener) Close() error                                   { return nil }

// checkHTTP3 rejects sites HTTP/3 cannot serve as configured: those asking for client certificates.
func checkHTTP3(sites []*Site) []error {
	var errs []error
	for _, s := range sites {
		if s.TLSConfig != nil && s.TLS != nil && s.TLS.ClientAuth != tls.NoClientCert {
			errs = append(errs, tokenErr(s.label, "site %s cannot be served with -quic: it requires client "+
				"certificates (tls { clients }), and mutual TLS is not supported over HTTP/3; remove -quic or the "+
				"clients setting", s.Addr.Key()))
		}
	}
	return errs
}
