package basicauth

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

type (
	httpserverResponseWriter = http.ResponseWriter
	httpserverRequest        = http.Request
)

// build sets up each Casketfile segment, chains them in order in front of a recording next handler and
// provisions the result with site.
func build(t *testing.T, site *httpserver.Site, srcs ...string) (*Handler, *string) {
	t.Helper()
	user := new(string)
	var h httpserver.Handler = httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		*user, _ = httpserver.InfoFrom(r).Var("user")
		if *user == "" {
			*user = "(anonymous)"
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	for i := len(srcs) - 1; i >= 0; i-- {
		mw, err := Setup(testutil.Dispenser(t, srcs[i]), site)
		if err != nil {
			t.Fatal(err)
		}
		h = mw(h)
	}
	ba := h.(*Handler)
	if err := ba.Provision(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	return ba, user
}

type authCase struct {
	name       string
	method     string
	path       string
	user, pass string // no Authorization header when both are empty
	wantStatus int    // 200: passed on; 401: challenged
	wantUser   string // the {user} the next handler saw
	wantLogErr bool   // a 401 with an error worth logging
}

func runCases(t *testing.T, h *Handler, seen *string, realm string, cases []authCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			*seen = ""
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "http://example.com"+tc.path, nil)
			if tc.user != "" || tc.pass != "" {
				r.SetBasicAuth(tc.user, tc.pass)
			}
			// The server attaches a RequestInfo; do the same so {user} is observable.
			r = httpserver.WithRequestInfo(r, httpserver.InfoFrom(r))
			w := httptest.NewRecorder()
			err := h.ServeHTTP(w, r)
			if tc.wantStatus == http.StatusOK {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if *seen != tc.wantUser {
					t.Errorf("next saw user %q, want %q", *seen, tc.wantUser)
				}
				if r.Header.Get("Authorization") == "" && tc.user != "" {
					t.Error("Authorization header was removed")
				}
				return
			}
			if err == nil || httpserver.StatusOf(err) != tc.wantStatus {
				t.Fatalf("err = %v, want status %d", err, tc.wantStatus)
			}
			if *seen != "" {
				t.Error("next handler ran for a rejected request")
			}
			if got, want := w.Header().Get("WWW-Authenticate"), `Basic realm="`+realm+`"`; got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			hasCause := err.(*httpserver.HandlerError).Err != nil
			if hasCause != tc.wantLogErr {
				t.Errorf("error cause = %v, want cause: %v", err, tc.wantLogErr)
			}
			if strings.Contains(err.Error(), tc.pass) && tc.pass != "" {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestPlainPasswords(t *testing.T) {
	h, seen := build(t, &httpserver.Site{},
		"basicauth /admin alice pw1",
		"basicauth bob pw2 {\n /admin\n /private\n exclude /private/open\n realm ignored-second\n}")
	runCases(t, h, seen, "Restricted", []authCase{
		{name: "unprotected path", path: "/index.html", wantStatus: 200, wantUser: "(anonymous)"},
		{name: "no credentials", path: "/admin/x", wantStatus: 401},
		{name: "alice", path: "/admin/x", user: "alice", pass: "pw1", wantStatus: 200, wantUser: "alice"},
		{name: "bob on shared path", path: "/admin", user: "bob", pass: "pw2", wantStatus: 200, wantUser: "bob"},
		{name: "wrong password", path: "/admin", user: "alice", pass: "pw2", wantStatus: 401, wantLogErr: true},
		{name: "password prefix", path: "/admin", user: "alice", pass: "pw", wantStatus: 401, wantLogErr: true},
		{name: "unknown user", path: "/admin", user: "eve", pass: "pw1", wantStatus: 401, wantLogErr: true},
		{name: "case insensitive path", path: "/ADMIN/x", wantStatus: 401},
		{name: "dot segments", path: "/public/../admin/x", wantStatus: 401},
		{name: "options not protected", method: http.MethodOptions, path: "/admin", wantStatus: 200, wantUser: "(anonymous)"},
		{name: "exclude", path: "/private/open/x", wantStatus: 200, wantUser: "(anonymous)"},
	})
	// The realm of /private comes from bob's rule, the only one covering it.
	r := httptest.NewRequest("GET", "/private/x", nil)
	w := httptest.NewRecorder()
	_ = h.ServeHTTP(w, r)
	if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="ignored-second"` {
		t.Errorf("realm for /private = %q", got)
	}
}

func TestHtpasswd(t *testing.T) {
	dir := t.TempDir()
	carolHash, err := bcrypt.GenerateFromPassword([]byte("carol-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	daveHash, err := bcrypt.GenerateFromPassword([]byte("dave-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	daveY := "$2y$" + string(daveHash[4:]) // as written by Apache's `htpasswd -B`
	sum := sha1.Sum([]byte("erin-pw"))
	file := strings.Join([]string{
		"# users",
		"carol:" + string(carolHash),
		"",
		"dave:" + daveY,
		"erin:{SHA}" + base64.StdEncoding.EncodeToString(sum[:]),
		"mallory:$apr1$unsupported$xxxxxxxx", // other users' formats are not checked
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	site := &httpserver.Site{Root: dir}
	h, seen := build(t, site,
		"basicauth / carol htpasswd=users",
		"basicauth / dave htpasswd=users",
		"basicauth / erin htpasswd="+filepath.Join(dir, "users"))
	runCases(t, h, seen, "Restricted", []authCase{
		{name: "bcrypt 2a", path: "/", user: "carol", pass: "carol-pw", wantStatus: 200, wantUser: "carol"},
		{name: "bcrypt 2y", path: "/", user: "dave", pass: "dave-pw", wantStatus: 200, wantUser: "dave"},
		{name: "sha1", path: "/", user: "erin", pass: "erin-pw", wantStatus: 200, wantUser: "erin"},
		{name: "bcrypt wrong", path: "/", user: "carol", pass: "dave-pw", wantStatus: 401, wantLogErr: true},
		{name: "sha1 wrong", path: "/", user: "erin", pass: "carol-pw", wantStatus: 401, wantLogErr: true},
		{name: "not in rules", path: "/", user: "mallory", pass: "x", wantStatus: 401, wantLogErr: true},
	})
}

func TestHtpasswdErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("apr1", "bob:$apr1$abc$def\n")
	write("badline", "bob\n")
	write("badsha", "bob:{SHA}!!!\n")
	write("badbcrypt", "bob:$2y$xx\n")
	write("other", "alice:{SHA}AAAA\n")
	tests := []struct{ file, wantErr string }{
		{"missing", "reading htpasswd file"},
		{"apr1", "unsupported password hash"},
		{"badline", "badline:1: malformed line"},
		{"badsha", "invalid {SHA} hash"},
		{"badbcrypt", "invalid bcrypt hash"},
		{"other", `user "bob" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, "basicauth / bob htpasswd="+tt.file), &httpserver.Site{})
			if err != nil {
				t.Fatal(err)
			}
			h := mw(nil).(*Handler)
			err = h.Provision(context.Background(), &httpserver.Site{Root: dir})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestUnprovisionedHtpasswdFailsClosed(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, "basicauth / bob htpasswd=users"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(httpserver.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("next called")
		return nil
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("bob", "htpasswd=users")
	if err := h.ServeHTTP(httptest.NewRecorder(), r); httpserver.StatusOf(err) != 401 {
		t.Errorf("err = %v, want 401", err)
	}
}

func TestBcryptMatcherCache(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	m := bcryptMatcher(hash)
	for i, tc := range []struct {
		pass string
		want bool
	}{{"wrong", false}, {"right", true}, {"right", true}, {"wrong", false}, {"righ", false}, {"", false}} {
		if got := m(tc.pass); got != tc.want {
			t.Errorf("#%d m(%q) = %v, want %v", i, tc.pass, got, tc.want)
		}
	}
}
