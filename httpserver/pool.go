package httpserver

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ListenerPool owns the listening sockets of the process and lends them to instances, so a reload can
// start the new instance on the sockets the old one is still serving: no connection is refused and
// none is dropped. Each socket has one accept loop; every instance holding the socket takes
// connections from it, and an instance that stops just stops taking. The pool closes a socket when no
// running instance holds it anymore. It is safe for concurrent use.
type ListenerPool struct {
	mu    sync.Mutex
	socks map[string]*socket
	udp   map[string]*packetSocket // HTTP/3 (http3.go)
	// adoptedUDP are UDP sockets inherited from a parent process, not yet served (http3.go)
	adoptedUDP map[string]net.PacketConn
	closed     bool
}

// NewListenerPool returns an empty pool.
func NewListenerPool() *ListenerPool {
	return &ListenerPool{socks: make(map[string]*socket)}
}

// socket is one listening socket and its accept loop.
type socket struct {
	addr  string
	ln    net.Listener
	refs  int
	conns chan net.Conn // accepted connections, handed to whichever holder accepts first
	stop  chan struct{} // closed when the pool lets go of the socket
	dead  chan struct{} // closed when the accept loop has ended
	err   error         // why the accept loop ended; read after dead is closed
}

// acquire returns the socket for addr, listening on it if the pool does not hold it yet.
func (p *ListenerPool) acquire(addr string) (*socket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("listener pool is closed")
	}
	if s := p.socks[addr]; s != nil {
		s.refs++
		return s, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := p.add(addr, ln)
	s.refs = 1
	return s, nil
}

func (p *ListenerPool) add(addr string, ln net.Listener) *socket {
	s := &socket{
		addr:  addr,
		ln:    ln,
		conns: make(chan net.Conn),
		stop:  make(chan struct{}),
		dead:  make(chan struct{}),
	}
	p.socks[addr] = s
	go s.acceptLoop()
	return s
}

// release gives back one hold on s and closes the socket when it was the last.
func (p *ListenerPool) release(s *socket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.refs--
	if s.refs > 0 {
		return
	}
	if p.socks[s.addr] == s {
		delete(p.socks, s.addr)
	}
	s.shut()
}

// Adopt hands the pool a socket that is already listening (one inherited from a parent process, or
// made by a test) for the listener address addr ("host:port" as Instance.Addresses reports it). The
// pool closes it when the last instance using it stops, or on Close.
func (p *ListenerPool) Adopt(addr string, ln net.Listener) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("listener pool is closed")
	}
	if _, ok := p.socks[addr]; ok {
		return fmt.Errorf("adopting listener for %s: the pool already holds that address", addr)
	}
	p.add(addr, ln)
	return nil
}

// Reserve binds those of addrs the pool does not hold yet, without serving them: connections wait in
// the socket's queue until an instance starts on it. Automatic HTTPS reserves an instance's addresses
// before it loads and orders certificates, so the instance serves the stored certificates from its
// first connection and the CA's validation requests never find a closed port. It binds what it can and
// returns the errors; Start reports a failed bind again, with its context. Prune closes reservations
// that end up unused.
func (p *ListenerPool) Reserve(addrs []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("listener pool is closed")
	}
	var errs []error
	for _, addr := range addrs {
		if p.socks[addr] != nil {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("listening on %s: %w", addr, err))
			continue
		}
		p.add(addr, ln)
	}
	return errors.Join(errs...)
}

// Prune closes the sockets no instance holds: reservations and adopted sockets left unused, for
// example after a reload that failed.
func (p *ListenerPool) Prune() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, s := range p.socks {
		if s.refs == 0 {
			delete(p.socks, addr)
			_ = s.shut()
		}
	}
	p.closeAdoptedPackets()
}

// Listener returns the socket the pool holds for addr (for handing it to another process).
func (p *ListenerPool) Listener(addr string) (net.Listener, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.socks[addr]
	if !ok {
		return nil, false
	}
	return s.ln, true
}

// Close closes every socket the pool holds. Instances still using them stop accepting.
func (p *ListenerPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	errs := []error{p.closePackets()}
	p.closeAdoptedPackets()
	for addr, s := range p.socks {
		delete(p.socks, addr)
		if err := s.shut(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// shut stops the accept loop and closes the socket. Callers hold the pool's lock.
func (s *socket) shut() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing listener %s: %w", s.addr, err)
	}
	return nil
}

// handoffWait is how long a connection accepted as the socket closes waits for a holder to take it.
const handoffWait = time.Second

// acceptLoop accepts connections and hands each to one holder. Transient errors (too many open files)
// are retried with a growing delay, as net/http does.
func (s *socket) acceptLoop() {
	defer close(s.dead)
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.stop:
				s.err = net.ErrClosed
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				s.err = err
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
			case <-s.stop:
				s.err = net.ErrClosed
				return
			}
			continue
		}
		delay = 0
		select {
		case s.conns <- c:
		case <-s.stop:
			// The socket is closing (a stop, or the handover of a binary upgrade, where another process
			// accepts on it from now on), but this connection was accepted already: a holder still
			// serving takes it rather than the client seeing it reset.
			select {
			case s.conns <- c:
			case <-time.After(handoffWait):
				c.Close()
			}
			s.err = net.ErrClosed
			return
		}
	}
}

// poolListener is one server's view of a pooled socket. Closing it only stops this server from
// taking connections; the socket stays open for the other holders.
type poolListener struct {
	sock *socket
	done chan struct{}
	once sync.Once
}

func newPoolListener(s *socket) *poolListener {
	return &poolListener{sock: s, done: make(chan struct{})}
}

// Accept waits for the next connection on the shared socket.
func (l *poolListener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.sock.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.sock.dead:
		return nil, fmt.Errorf("accepting on %s: %w", l.sock.addr, l.sock.err)
	}
}

// Close stops this holder's Accept; it leaves the socket open.
func (l *poolListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the socket's address.
func (l *poolListener) Addr() net.Addr { return l.sock.ln.Addr() }
