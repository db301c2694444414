package internalpath_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/bind"
	"github.com/casketserver/casket/httpserver/errorpages"
	"github.com/casketserver/casket/httpserver/fileserver"
	"github.com/casketserver/casket/httpserver/header"
	"github.com/casketserver/casket/httpserver/internalpath"
	"github.com/casketserver/casket/httpserver/mime"
	"github.com/casketserver/casket/httpserver/redir"
	"github.com/casketserver/casket/httpserver/requestid"
	"github.com/casketserver/casket/httpserver/rewrite"
	"github.com/casketserver/casket/httpserver/status"
)

// backendSetup is a stand-in for `proxy`: under /download/ it answers with X-Accel-Redirect to the same
// name under /internal/, as an application would.
func backendSetup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	return func(next httpserver.Handler) httpserver.Handler {
		return httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if name, ok := strings.CutPrefix(r.URL.Path, "/download/"); ok {
				w.Header().Set(internalpath.RedirectHeader, "/internal/"+name)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Disposition", "attachment")
				_, err := io.WriteString(w, `{"ok":true}`)
				return err
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}

// TestChain runs the request-shaping directives in a real server, in Casket's order, in front of the
// static file server.
func TestChain(t *testing.T) {
	root := t.TempDir()
	for name, body := range map[string]string{
		"index.php":           "front controller",
		"exists.html":         "<p>exists</p>",
		"internal/report.csv": "a,b\n1,2\n",
		"404.html":            "custom not found",
		"movie.vid":           "frames",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := `127.0.0.1:0 {
	bind 127.0.0.1
	root ` + root + `
	request_id
	rewrite /app {
		to {path} /index.php
	}
	header / {
		-Server
		X-Request-Id {request_id}
		X-Status {status}
	}
	errors ` + filepath.Join(t.TempDir(), "errors.log") + ` {
		404 404.html
	}
	redir /old /exists.html 308
	status 403 /private
	mime .vid video/x-test
	internal /internal
	backend
}`
	blocks, err := casketfile.Parse("Casketfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dirs := []httpserver.Directive{
		{Name: "root", Setup: fileserver.SetupRoot},
		{Name: "bind", Setup: bind.Setup},
		{Name: "request_id", Setup: requestid.Setup},
		{Name: "rewrite", Setup: rewrite.Setup},
		{Name: "header", Setup: header.Setup},
		{Name: "errors", Setup: errorpages.Setup},
		{Name: "redir", Setup: redir.Setup},
		{Name: "status", Setup: status.Setup},
		{Name: "mime", Setup: mime.Setup},
		{Name: "internal", Setup: internalpath.Setup},
		{Name: "backend", Setup: backendSetup},
	}
	in, err := httpserver.Build(blocks, httpserver.Options{Directives: dirs, Final: fileserver.New})
	if err != nil {
		t.Fatal(err)
	}
	pool := httpserver.NewListenerPool()
	t.Cleanup(func() { _ = pool.Close() })
	if err := in.Start(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Stop(ctx)
	})
	base := "http://" + in.ListenerAddrs()[0].String()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
		wantHeader map[string]string // "" means absent
	}{
		{path: "/exists.html", wantStatus: 200, wantBody: "<p>exists</p>",
			wantHeader: map[string]string{"Server": "", "X-Status": "200"}},
		{path: "/app/anything", wantStatus: 200, wantBody: "front controller"},
		{path: "/old", wantStatus: 308, wantHeader: map[string]string{"Location": "/exists.html"}},
		{path: "/private/x", wantStatus: 403},
		{path: "/missing", wantStatus: 404, wantBody: "custom not found", wantHeader: map[string]string{"Server": ""}},
		{path: "/internal/report.csv", wantStatus: 404, wantBody: "custom not found"},
		{path: "/download/report.csv", wantStatus: 200, wantBody: "a,b\n1,2\n",
			wantHeader: map[string]string{"Content-Disposition": "attachment", "X-Accel-Redirect": "", "Content-Type": "text/csv; charset=utf-8"}},
		{path: "/movie.vid", wantStatus: 200, wantBody: "frames", wantHeader: map[string]string{"Content-Type": "video/x-test"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if id := resp.Header.Get("X-Request-Id"); !requestid.ValidUUID(id) {
				t.Errorf("X-Request-Id = %q, want a UUID", id)
			}
		})
	}
}
