package httpserver

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"

	"go.uber.org/zap"

	"github.com/casketserver/casket/casketfile"
)

// Options are the process-wide defaults and pieces the server needs.
type Options struct {
	Host, Port, Root    string      // -host (""), -port ("2015"), -root ("."); empty Port/Root use those defaults
	HTTPPort, HTTPSPort string      // -http-port ("80"), -https-port ("443"); `:http`/`:https` map to them
	Directives          []Directive // ordered table; order = middleware order, first = outermost
	Final               func(s *Site) Handler
	ConfigFile          string      // absolute path of the Casketfile (added to every Site.HiddenFiles)
	Logger              *zap.Logger // nil → zap.NewNop()
	DisableHTTP2        bool        // -http2=false
	HTTP3               bool        // -quic: HTTPS listeners also serve HTTP/3 over UDP (http3.go)

	// AssignPort is the hook automatic HTTPS uses to move qualifying sites to the HTTPS port. Build
	// calls it once per site whose address names neither a port nor a scheme, after every directive
	// of the site has run (so s.TLS is known), and before duplicate addresses are checked. It returns
	// the port for the site; "" means the default, Port. It may also set s.Addr.Scheme and
	// s.TLSConfig. It must be pure, like a SetupFunc. Nil means every such site gets Port.
	AssignPort func(s *Site) string

	// Intercept, when set, sees every request on plain-HTTP listeners before virtual-host lookup and
	// reports whether it answered it; automatic HTTPS uses it for ACME HTTP-01 challenges, which must be
	// answered even for hosts no site serves.
	Intercept func(w http.ResponseWriter, r *http.Request) bool

	// AutoHTTPS turns on automatic HTTPS in Build once the ports are assigned (https.go, redirect.go):
	// every site that ServesTLS gets the https scheme and, unless AssignPort set one, a placeholder
	// TLSConfig that the caller must replace with its certificate manager's before Start; TLS sites
	// sharing a server name on one listener must agree on their tls settings; and an HTTP→HTTPS
	// redirect site is added on HTTPPort per TLS host (see redirectSites).
	AutoHTTPS bool
}

// Instance is one configuration's set of sites, grouped onto listeners. Build makes it; Start serves
// it; Stop ends it. A reload builds and starts a new Instance on the same ListenerPool before stopping
// the old one.
type Instance struct {
	opts      Options
	log       *zap.Logger
	sites     []*Site
	addresses []string

	mu      sync.Mutex
	state   int // stateBuilt, stateStarted, stateStopped
	servers []*server
	pool    *ListenerPool
	closers []Handler // handlers to close at Stop, in closing order
}

const (
	stateBuilt = iota
	stateStarted
	stateStopped
)

// Sites returns the sites in Casketfile order.
func (in *Instance) Sites() []*Site { return in.sites }

// Addresses returns the "host:port" listener addresses the instance binds, sorted; an empty host means
// all interfaces.
func (in *Instance) Addresses() []string { return in.addresses }

// Build turns server blocks into sites: it parses and normalizes the addresses, applies the -host and
// -port defaults, rejects duplicates, runs every directive's SetupFunc in table order for each site and
// compiles each site's middleware chain. It is pure: no sockets, no files opened, no goroutines, so
// `-validate` is Build alone. The errors of all sites are joined.
func Build(blocks []casketfile.ServerBlock, opts Options) (*Instance, error) {
	opts = withDefaults(opts)
	in := &Instance{opts: opts, log: opts.Logger}
	var errs errorList

	known := make(map[string]bool, len(opts.Directives))
	for _, d := range opts.Directives {
		known[d.Name] = true
	}
	keys := make(map[string]bool)
	for _, b := range blocks {
		blockOK := true
		for _, seg := range b.Segments {
			if name := seg.Directive(); !known[name] {
				errs.add(tokenErr(seg[0], "unknown directive %q", name))
				blockOK = false
			}
		}
		for _, k := range b.Keys {
			if k.Text == "" {
				continue // an empty label ("") is ignored
			}
			addr, err := ParseAddressPorts(k.Text, opts.HTTPPort, opts.HTTPSPort)
			if err != nil {
				errs.add(tokenErr(k, "%v", err))
				continue
			}
			if keys[addr.Key()] {
				errs.add(tokenErr(k, "duplicate site key: %s", addr.Key()))
				continue
			}
			keys[addr.Key()] = true
			if !blockOK {
				continue
			}
			site := newSite(addr, opts)
			site.label = k
			if err := setupSite(site, b.Segments, opts); err != nil {
				errs.add(err)
				continue
			}
			in.sites = append(in.sites, site)
		}
	}
	assignPorts(in.sites, opts)
	errs.add(checkDuplicates(in.sites, opts)...)
	if opts.AutoHTTPS && errs.join() == nil {
		redirects, tlsErrs := planHTTPS(in.sites, opts)
		errs.add(tlsErrs...)
		in.sites = append(in.sites, redirects...)
	}
	if opts.HTTP3 {
		errs.add(checkHTTP3(in.sites)...)
	}
	if err := errs.join(); err != nil {
		return nil, err
	}
	plans, err := planListeners(in.sites, opts)
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		in.addresses = append(in.addresses, p.addr)
	}
	return in, nil
}

func withDefaults(o Options) Options {
	if o.Port == "" {
		o.Port = DefaultPort
	}
	if o.Root == "" {
		o.Root = "."
	}
	if o.HTTPPort == "" {
		o.HTTPPort = DefaultHTTPPort
	}
	if o.HTTPSPort == "" {
		o.HTTPSPort = DefaultHTTPSPort
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

func newSite(addr Address, opts Options) *Site {
	s := &Site{Addr: addr, Root: opts.Root, ConfigFile: opts.ConfigFile}
	if opts.ConfigFile != "" {
		s.HiddenFiles = []string{opts.ConfigFile}
	}
	if s.Addr.Host == "" && opts.Host != "" {
		h, err := normalizeHost(opts.Host)
		if err != nil {
			h = opts.Host
		}
		s.Addr.Host, s.hostDefaulted = h, true
	}
	return s
}

// setupSite runs the directives of one site in table order and compiles its chain.
func setupSite(s *Site, segs []casketfile.Segment, opts Options) error {
	var mws []Middleware
	var errs errorList
	for _, d := range opts.Directives {
		for _, seg := range segs {
			if seg.Directive() != d.Name {
				continue
			}
			mw, err := d.Setup(casketfile.NewDispenser(seg), s)
			if err != nil {
				errs.add(err)
				continue
			}
			if mw != nil {
				mws = append(mws, mw)
			}
		}
	}
	if err := errs.join(); err != nil {
		return err
	}
	compileChain(s, mws, opts.Final)
	return nil
}

// compileChain wraps the final handler in the middlewares, last first, and remembers every handler
// built on the way so Start can provision them and Stop can close them.
func compileChain(s *Site, mws []Middleware, final func(*Site) Handler) {
	var h Handler
	if final != nil {
		h = final(s)
	}
	if h == nil {
		h = HandlerFunc(func(http.ResponseWriter, *http.Request) error { return Error(http.StatusNotFound, nil) })
	}
	s.handlers = append(s.handlers[:0], h)
	for i := len(mws) - 1; i >= 0; i-- {
		next := mws[i](h)
		if next == nil {
			continue
		}
		if !sameHandler(next, h) {
			s.handlers = append(s.handlers, next)
		}
		h = next
	}
	s.chain = h
}

// sameHandler compares two handlers by identity when their type allows it.
func sameHandler(a, b Handler) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// assignPorts gives every site without a port one: the AssignPort hook's choice, else Options.Port.
func assignPorts(sites []*Site, opts Options) {
	for _, s := range sites {
		if s.Addr.Port != "" {
			continue
		}
		if opts.AssignPort != nil {
			s.Addr.Port = opts.AssignPort(s)
		}
		if s.Addr.Port == "" {
			s.Addr.Port, s.portDefaulted = opts.Port, true
		}
		if s.Addr.Scheme == "" {
			s.Addr.Scheme = schemeForPort(s.Addr.Port, opts.HTTPPort, opts.HTTPSPort)
		}
	}
}

// checkDuplicates rejects two sites with the same host, port and path once the defaults are applied.
func checkDuplicates(sites []*Site, opts Options) []error {
	seen := make(map[string]*Site, len(sites))
	var errs []error
	for _, s := range sites {
		id := s.Addr.hostForURL() + ":" + s.Addr.Port + s.Addr.Path
		other, dup := seen[id]
		if !dup {
			seen[id] = s
			continue
		}
		modified := func(x *Site) bool {
			return (x.hostDefaulted && opts.Host != "") || (x.portDefaulted && opts.Port != DefaultPort)
		}
		if modified(s) || modified(other) {
			errs = append(errs, tokenErr(s.label, "site defined as %s is a duplicate of %s because of modified default "+
				"host and/or port values (usually via -host or -port flags)", s.Addr.Key(), other.Addr.Key()))
		} else {
			errs = append(errs, tokenErr(s.label, "duplicate site address: %s (defined as %s and %s)",
				s.Addr.String(), other.Addr.Key(), s.Addr.Key()))
		}
	}
	return errs
}

func tokenErr(t casketfile.Token, format string, args ...any) error {
	return &casketfile.Error{File: t.File, Line: t.Line, Msg: fmt.Sprintf(format, args...), Imports: t.Imports}
}

// errorList collects errors, dropping repeats (a block with several labels runs its directives once
// per label and would otherwise report the same mistake several times).
type errorList struct {
	errs []error
	seen map[string]bool
}

func (l *errorList) add(errs ...error) {
	for _, err := range errs {
		if err == nil {
			continue
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			l.add(joined.Unwrap()...)
			continue
		}
		if l.seen == nil {
			l.seen = make(map[string]bool)
		}
		if msg := err.Error(); !l.seen[msg] {
			l.seen[msg] = true
			l.errs = append(l.errs, err)
		}
	}
}

func (l *errorList) join() error { return errors.Join(l.errs...) }
