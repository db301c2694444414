package httpserver

import (
	"crypto/tls"
	"net"
	"net/netip"
	"time"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/tlsmgr"
)

// Site is one site address with the configuration its directives built. Directive setup functions fill
// the configuration fields; the server compiles the middleware chain.
type Site struct {
	// Addr is the parsed address. The -host default is applied before the directives run; a label
	// without port or scheme gets its port after every directive ran (Options.AssignPort, else -port),
	// so during setup Addr.Port may be empty.
	Addr Address

	Root        string   // document root; defaults to the -root flag (".")
	IndexFiles  []string // index file names; nil means DefaultIndexFiles
	HiddenFiles []string // absolute paths never served (the Casketfile itself)
	BindHost    string   // the `bind` host; "" means all interfaces

	Timeouts       Timeouts
	MaxHeaderBytes int // `limits header`; 0 means the default

	TLS *tlsmgr.Policy // the `tls` directive; nil when absent

	// TLSConfig, when set, makes the site's listener serve TLS; the listener picks the config by SNI
	// (GetConfigForClient). All sites of one listener must agree on TLS or plain HTTP. Build leaves it
	// nil; automatic HTTPS (or Options.AssignPort) sets it before Instance.Start.
	TLSConfig *tls.Config

	// RedirectTo is set on the HTTP→HTTPS redirect sites automatic HTTPS adds (Options.AutoHTTPS): the
	// TLS site the redirect points to. Such a site answers every request with a redirect.
	RedirectTo *Site

	// ConfigFile is the Casketfile the site came from, for relative paths and messages.
	ConfigFile string

	chain    Handler   // the compiled middleware chain, outermost first
	handlers []Handler // every handler of the chain, innermost (the final handler) first

	label         casketfile.Token // the label the site was built from, for error locations
	hostDefaulted bool             // Addr.Host came from Options.Host
	portDefaulted bool             // Addr.Port came from Options.Port
	sniCheck      bool             // client authentication is on: the Host must equal the TLS server name
}

// Handler returns the site's compiled middleware chain (nil before Build compiled it).
func (s *Site) Handler() Handler { return s.chain }

// ListenAddress returns the "host:port" the site's listener binds: the `bind` host (all interfaces
// when empty) and the site's port.
func (s *Site) ListenAddress() string {
	host := s.BindHost
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, s.Addr.Port)
}

// DefaultIndexFiles are tried, in order, when a directory is requested and `index` is not used.
var DefaultIndexFiles = []string{"index.html", "index.htm", "index.txt", "default.html", "default.htm", "default.txt"}

// Timeouts are the server timeouts a site asks for; zero means unset, a negative value means none.
type Timeouts struct {
	Read, ReadHeader, Write, Idle time.Duration
}

// Indexes returns the index files of the site.
func (s *Site) Indexes() []string {
	if s.IndexFiles != nil {
		return s.IndexFiles
	}
	return DefaultIndexFiles
}
