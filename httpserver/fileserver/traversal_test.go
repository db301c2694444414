package fileserver

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

const (
	secretMarker    = "TOP-SECRET-OUTSIDE-ROOT"
	casketfileMark  = "CASKETFILE-MUST-NOT-LEAK"
	outsideDirEntry = "outside-only-entry.txt"
)

// traversalServer hosts root "www" inside a directory that also holds a secret file and an outside
// directory, behind the full fileserver chain (tryfiles, ext, browse, file server). It returns the
// server's address and the absolute path of the secret.
func traversalServer(t *testing.T, build func(*httpserver.Site) httpserver.Handler) (string, string) {
	t.Helper()
	base := t.TempDir()
	www := filepath.Join(base, "www")
	writeFiles(t, base, map[string]string{
		"secret.txt":                  secretMarker,
		"outside/" + outsideDirEntry:  secretMarker,
		"www/index.html":              "welcome",
		"www/a/b.txt":                 "inner",
		"www/Casketfile":              casketfileMark,
		"www/nested/deeper/page.html": "deep",
	})
	links := map[string]string{
		"www/escape":          "../secret.txt",
		"www/escape-abs":      filepath.Join(base, "secret.txt"),
		"www/up":              "..",
		"www/outside-dir":     "../outside",
		"www/a/escape2":       "../../secret.txt",
		"www/cf-link":         "Casketfile",
		"www/a/chain":         "../escape",
		"www/loop":            "loop",
		"www/nested/up2":      "../../..",
		"www/secret.txt.gz":   "../secret.txt", // precompressed sibling pointing outside
		"www/inside-link.txt": "a/b.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeFiles(t, base, map[string]string{"www/secret.txt": "decoy inside root"})
	site := &httpserver.Site{Root: www, ConfigFile: filepath.Join(www, "Casketfile")}

	chain := build(site)
	srv := httptest.NewServer(adapt(chain))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), filepath.Join(base, "secret.txt")
}

// rawGet sends one request line as written (no client normalization) and returns status and body.
func rawGet(t *testing.T, addr, target string, extra string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: example.test\r\n"+extra+"Connection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: reading response: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// fullChain is the file server behind tryfiles, ext and browse, as a site would have them.
func fullChain(t *testing.T) func(*httpserver.Site) httpserver.Handler {
	return func(site *httpserver.Site) httpserver.Handler {
		var chain httpserver.Handler = New(site)
		for _, src := range []string{"browse", "ext .html .txt", "tryfiles"} {
			d := testutil.Dispenser(t, src)
			var mw httpserver.Middleware
			var err error
			switch {
			case strings.HasPrefix(src, "browse"):
				mw, err = SetupBrowse(d, site)
			case strings.HasPrefix(src, "ext"):
				mw, err = SetupExt(d, site)
			default:
				mw, err = SetupTryFiles(d, site)
			}
			if err != nil {
				t.Fatal(err)
			}
			chain = mw(chain)
		}
		return chain
	}
}

func TestNoEscapeFromRoot(t *testing.T) {
	addr, secretPath := traversalServer(t, fullChain(t))
	attacks := attackPaths(secretPath)
	if len(attacks) < 60 {
		t.Fatalf("only %d attack paths", len(attacks))
	}
	for _, target := range attacks {
		for _, extra := range []string{"", "Accept-Encoding: gzip, br, zstd\r\n", "Accept: application/json\r\n"} {
			status, body := rawGet(t, addr, target, extra)
			if leaked(body) {
				t.Errorf("%q (%q): status %d leaked: %q", target, extra, status, body)
			}
		}
	}
	// The same attacks through net/http's client, with the path sent as written (URL.Opaque).
	client := &http.Client{Timeout: 5 * time.Second}
	for _, target := range attacks {
		if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.ContainsAny(target, "\\ ") {
			continue
		}
		req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = target
		resp, err := client.Do(req)
		if err != nil {
			continue // the client refused to send it
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if leaked(string(body)) {
			t.Errorf("client %q: status %d leaked: %q", target, resp.StatusCode, body)
		}
	}
	// Sanity: the server does serve what is inside.
	for target, want := range map[string]string{"/a/b.txt": "inner", "/inside-link.txt": "inner", "/": "welcome",
		"/nested/deeper/page.html": "deep", "/nested/deeper/page": "welcome", "/secret.txt": "decoy inside root"} {
		if status, body := rawGet(t, addr, target, ""); status != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", target, status, body, want)
		}
	}
}

// TestTraversalHarnessDetectsLeaks runs the same attacks against a naive handler that joins the raw
// path to the root, proving the harness would notice an escape.
func TestTraversalHarnessDetectsLeaks(t *testing.T) {
	addr, secretPath := traversalServer(t, func(site *httpserver.Site) httpserver.Handler {
		return httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			b, err := os.ReadFile(site.Root + "/" + r.URL.Path)
			if err != nil {
				return httpserver.Error(http.StatusNotFound, err)
			}
			_, err = w.Write(b)
			return err
		})
	})
	leaks := 0
	for _, target := range attackPaths(secretPath) {
		if _, body := rawGet(t, addr, target, ""); leaked(body) {
			leaks++
		}
	}
	if leaks < 10 {
		t.Errorf("the naive handler leaked only %d times; the harness is not testing anything", leaks)
	}
}

func leaked(body string) bool {
	return strings.Contains(body, secretMarker) || strings.Contains(body, casketfileMark) ||
		strings.Contains(body, outsideDirEntry)
}

func attackPaths(secretPath string) []string {
	attacks := []string{
		// plain and dot-segment variants
		"/../secret.txt", "/../../secret.txt", "/a/../../secret.txt", "/./../secret.txt", "/a/./../../secret.txt",
		"//../secret.txt", "///../secret.txt", "/.../secret.txt", "/..../secret.txt", "/....//secret.txt",
		"/..././secret.txt", "/a/b.txt/../../../secret.txt", "/..", "/../", "/../outside/",
		"/../outside/" + outsideDirEntry, "/../../../../../../../../etc/passwd", "/..;/secret.txt",
		// percent-encoded
		"/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/..%2fsecret.txt", "/.%2e/secret.txt", "/%2e./secret.txt",
		"/%2E%2E/secret.txt", "/%2e%2e%2f%2e%2e%2fsecret.txt", "/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e",
		"/%2e%2e/", "/a%2f..%2f..%2fsecret.txt",
		// double-encoded
		"/%252e%252e/secret.txt", "/%252e%252e%252fsecret.txt", "/..%252fsecret.txt", "/%25%32%65%25%32%65/secret.txt",
		"/..%255csecret.txt",
		// backslashes
		"/..\\secret.txt", "/..%5csecret.txt", "/%2e%2e%5csecret.txt", "/\\..\\secret.txt", "/%5c..%5csecret.txt",
		"/a\\..\\..\\secret.txt",
		// NUL and control bytes
		"/..%00/secret.txt", "/secret.txt%00", "/%00../secret.txt", "/.%00./secret.txt", "/..%0d%0a/secret.txt",
		"/escape%00.html", "/%c3%bc%00/../secret.txt", "/%c3%bc\\..\\secret.txt", "/%c3%bc/..%5c..%5csecret.txt",
		// overlong and look-alike UTF-8
		"/%c0%ae%c0%ae/secret.txt", "/%c0%ae%c0%ae%c0%afsecret.txt", "/%e0%80%ae%e0%80%ae/secret.txt",
		"/..%c0%afsecret.txt", "/..%c1%9csecret.txt", "/%c0%2e%c0%2e/secret.txt", "/%ef%bc%8e%ef%bc%8e/secret.txt",
		"/..%ef%bc%8fsecret.txt", "/%u002e%u002e/secret.txt", "/..%u2215secret.txt", "/%f0%80%80%ae%f0%80%80%ae/secret.txt",
		// symlinks pointing outside the root
		"/escape", "/escape/", "/escape-abs", "/up/secret.txt", "/up/", "/up", "/up/www/../secret.txt",
		"/outside-dir/", "/outside-dir/" + outsideDirEntry, "/a/escape2", "/a/chain", "/nested/up2/secret.txt",
		"/nested/up2/", "/up/outside/", "/up%2fsecret.txt", "/loop", "/secret.txt",
		// absolute paths and absolute-form request targets
		"/" + secretPath, "/" + filepath.ToSlash(secretPath[1:]), "http://example.test/../secret.txt",
		"http://example.test/%2e%2e/secret.txt",
		// the Casketfile, under every disguise
		"/Casketfile", "/./Casketfile", "/%43asketfile", "/a/../Casketfile", "/Casketfile/", "/cf-link",
		"/Casketfile?x", "/Casketfile%00", "/nested/../Casketfile",
		// ext and tryfiles must not help either
		"/escape.html", "/../secret", "/up/secret",
	}
	return attacks
}
