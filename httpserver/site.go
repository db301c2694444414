package httpserver

import (
	"time"

	"github.com/casketserver/casket/tlsmgr"
)

// Site is one site address with the configuration its directives built. Directive setup functions fill
// the configuration fields; the server compiles the middleware chain.
type Site struct {
	Addr Address // the parsed address (with defaults for host and port applied)

	Root        string   // document root; defaults to the -root flag (".")
	IndexFiles  []string // index file names; nil means DefaultIndexFiles
	HiddenFiles []string // absolute paths never served (the Casketfile itself)
	BindHost    string   // the `bind` host; "" means all interfaces

	Timeouts       Timeouts
	MaxHeaderBytes int // `limits header`; 0 means the default

	TLS *tlsmgr.Policy // the `tls` directive; nil when absent

	// ConfigFile is the Casketfile the site came from, for relative paths and messages.
	ConfigFile string
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
