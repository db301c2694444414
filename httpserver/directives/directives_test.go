package directives

import (
	"slices"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// order is Casket's execution order (features.md §2), except that prometheus moved before log so that it
// counts every answer; the table must follow it for the names it has.
var order = []string{"root", "index", "bind", "limits", "timeouts", "tls", "on", "request_id", "realip", "prometheus", "log",
	"tryfiles", "rewrite", "ext", "gzip", "header", "geoip", "errors", "ipfilter", "ratelimit", "forwardproxy",
	"basicauth", "redir", "status", "cors", "mime", "tmpauth", "chuieauth", "jwt", "internal", "pprof", "expvar",
	"push", "templates", "proxy", "fastcgi", "websocket", "webdav", "markdown", "browse"}

func TestAllOrderAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	last := -1
	for _, d := range All() {
		if d.Setup == nil {
			t.Errorf("%s: nil Setup", d.Name)
		}
		if seen[d.Name] {
			t.Errorf("%s: listed twice", d.Name)
		}
		seen[d.Name] = true
		i := slices.Index(order, d.Name)
		if i < 0 {
			t.Errorf("%s: not in Casket's order list; add it to the test's order and the comment", d.Name)
			continue
		}
		if i < last {
			t.Errorf("%s: out of order", d.Name)
		}
		last = i
	}
}

func TestNamesMatchesAll(t *testing.T) {
	names := Names()
	all := All()
	if len(names) != len(all) {
		t.Fatalf("len(Names()) = %d, len(All()) = %d", len(names), len(all))
	}
	for i := range all {
		if names[i] != all[i].Name {
			t.Errorf("Names()[%d] = %q, want %q", i, names[i], all[i].Name)
		}
	}
}

func TestSetupTLS(t *testing.T) {
	s := &httpserver.Site{}
	if _, err := setupTLS(testutil.Dispenser(t, "tls off"), s); err != nil {
		t.Fatal(err)
	}
	if s.TLS == nil || !s.TLS.Off {
		t.Fatalf("TLS = %+v, want Off", s.TLS)
	}
	_, err := setupTLS(testutil.Dispenser(t, "tls self_signed"), s)
	if err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("second tls: err = %v", err)
	}
	if !s.TLS.Off {
		t.Error("second tls replaced the first")
	}
}
