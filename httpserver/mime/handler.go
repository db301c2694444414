package mime

import (
	"net/http"
	"path"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// Mime is the `mime` middleware.
type Mime struct {
	Next   httpserver.Handler
	Config Config
}

// ServeHTTP sets Content-Type from the extension of the request path, before the next handler runs (the
// file server then keeps it instead of guessing). Configured types take precedence over the built-in table.
func (m *Mime) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if ext := path.Ext(r.URL.Path); ext != "" {
		if typ, ok := m.lookup(strings.ToLower(ext)); ok {
			w.Header().Set("Content-Type", typ)
		}
	}
	return m.Next.ServeHTTP(w, r)
}

func (m *Mime) lookup(ext string) (string, bool) {
	if typ, ok := m.Config.Types[ext]; ok {
		return typ, true
	}
	if m.Config.Defaults {
		return DefaultType(ext)
	}
	return "", false
}
