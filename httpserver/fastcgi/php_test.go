package fastcgi

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/bind"
	"github.com/casketserver/casket/httpserver/fileserver"
)

// findPHPFPM returns the php-fpm binary ($CASKET_PHP_FPM, php-fpm on PATH, or Debian's
// /usr/sbin/php-fpmX.Y). Without one the test skips, or fails when CASKET_REQUIRE_EXTERNAL=1.
func findPHPFPM(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CASKET_PHP_FPM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("php-fpm"); err == nil {
		return p
	}
	if m, _ := filepath.Glob("/usr/sbin/php-fpm*"); len(m) > 0 {
		return m[len(m)-1]
	}
	msg := "php-fpm not found (apt-get install php-fpm): SKIPPING the PHP-FPM tests"
	if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
		t.Fatal(msg)
	}
	t.Skip("!!! " + msg)
	return ""
}

// startPHPFPM runs php-fpm in the foreground on a free loopback port with a temporary configuration
// and returns its address.
func startPHPFPM(t *testing.T) string {
	t.Helper()
	bin := findPHPFPM(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`[global]
pid = %[1]s/fpm.pid
error_log = %[1]s/fpm.log
daemonize = no

[www]
listen = %[2]s
pm = static
pm.max_children = 4
clear_env = no
catch_workers_output = yes
php_admin_value[upload_tmp_dir] = %[1]s
php_admin_value[error_log] = %[1]s/php.log
`, dir, addr)
	confFile := filepath.Join(dir, "fpm.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--nodaemonize", "--fpm-config", confFile}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-to-run-as-root")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"APP_ENV=testing"} // clear_env = no: workers see it in $_SERVER
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "HTTP_PROXY=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "fpm.log"))
			t.Fatalf("php-fpm did not listen on %s: %s\n%s", addr, out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// phpSite serves testdata/app through a real Casket server: fastcgi with the php preset in front of
// the static file server.
func phpSite(t *testing.T, fpm, extra string) string {
	t.Helper()
	root, err := filepath.Abs("testdata/app")
	if err != nil {
		t.Fatal(err)
	}
	src := ":0 {\n bind 127.0.0.1\n root " + root + "\n fastcgi / " + fpm + " php {\n" + extra + "\n }\n}"
	blocks, err := casketfile.Parse("Casketfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dirs := []httpserver.Directive{
		{Name: "root", Setup: fileserver.SetupRoot},
		{Name: "bind", Setup: bind.Setup},
		{Name: "fastcgi", Setup: Setup},
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
	return "http://" + in.ListenerAddrs()[0].String()
}

func readAll(t *testing.T) func(*http.Response, error) (int, string, http.Header) {
	return func(resp *http.Response, err error) (int, string, http.Header) {
		t.Helper()
		return readResp(t, resp, err)
	}
}

func readResp(t *testing.T, resp *http.Response, err error) (int, string, http.Header) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestPHPFPM(t *testing.T) {
	fpm := startPHPFPM(t)
	base := phpSite(t, fpm, "env APP_SOURCE casket")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t.Run("GET", func(t *testing.T) {
		for path, want := range map[string]string{
			"/?q=1":              "index GET q=1\n",
			"/index.php?q=two":   "index GET q=two\n",
			"/sub/":              "sub index\n",
			"/static.txt":        "static file\n",
			"/index.php/a/b?q=3": "index GET q=3\n",
		} {
			status, body, _ := readAll(t)(c.Get(base + path))
			if status != 200 || body != want {
				t.Errorf("%s: %d %q, want %q", path, status, body, want)
			}
		}
	})
	t.Run("POST form", func(t *testing.T) {
		form := url.Values{"name": {"Zoë & co"}, "colors[]": {"red", "blue"}}
		status, body, _ := readAll(t)(c.PostForm(base+"/form.php", form))
		if status != 200 || body != "name=Zoë & co colors=red,blue\n" {
			t.Errorf("%d %q", status, body)
		}
		status, _, _ = readAll(t)(c.Get(base + "/form.php"))
		if status != 405 {
			t.Errorf("GET form.php: %d, want 405 from PHP", status)
		}
	})
	t.Run("PATH_INFO and CGI variables", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/info.php/some/path?x=1", nil)
		req.Header.Set("X-Test", "hello")
		req.Header.Set("Proxy", "http://evil.example:3128")
		status, body, _ := readAll(t)(c.Do(req))
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		root, _ := filepath.Abs("testdata/app")
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
		for k, want := range map[string]any{
			"SCRIPT_NAME": "/info.php", "SCRIPT_FILENAME": filepath.Join(root, "info.php"), "PATH_INFO": "/some/path",
			"DOCUMENT_ROOT": root, "REQUEST_URI": "/info.php/some/path?x=1", "QUERY_STRING": "x=1",
			"REQUEST_METHOD": "GET", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": port, "SERVER_PROTOCOL": "HTTP/1.1",
			"REMOTE_ADDR": "127.0.0.1", "HTTPS": nil, "HTTP_X_TEST": "hello", "HTTP_PROXY": nil,
			"PHP_SELF": "/info.php/some/path", "APP_ENV": "testing",
		} {
			if got[k] != want {
				t.Errorf("%s = %#v, want %#v", k, got[k], want)
			}
		}
	})
	t.Run("upload", func(t *testing.T) {
		content := bytes.Repeat([]byte("casket upload\n"), 20000) // ~280 KB: several STDIN records
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("note", "hi")
		fw, _ := mw.CreateFormFile("file", "data.bin")
		fw.Write(content)
		mw.Close()
		sum := md5.Sum(content)
		status, body, _ := readAll(t)(c.Post(base+"/upload.php", mw.FormDataContentType(), &buf))
		want := fmt.Sprintf("name=data.bin size=%d md5=%s note=hi\n", len(content), hex.EncodeToString(sum[:]))
		if status != 200 || body != want {
			t.Errorf("%d %q, want %q", status, body, want)
		}
	})
	t.Run("chunked upload", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "small.txt")
		fw.Write([]byte("abc"))
		mw.Close()
		req, _ := http.NewRequest("POST", base+"/upload.php", io.MultiReader(&buf)) // unknown length: chunked
		req.Header.Set("Content-Type", mw.FormDataContentType())
		status, body, _ := readAll(t)(c.Do(req))
		if status != 200 || !strings.HasPrefix(body, "name=small.txt size=3 ") {
			t.Errorf("%d %q", status, body)
		}
	})
	t.Run("status headers cookies redirect", func(t *testing.T) {
		status, body, h := readAll(t)(c.Get(base + "/status.php"))
		if status != 201 || body != "created\n" || h.Get("X-App") != "casket-test" || len(h.Values("Set-Cookie")) != 2 {
			t.Errorf("%d %q %v", status, body, h)
		}
		status, _, h = readAll(t)(c.Get(base + "/status.php?go=1"))
		if status != 302 || h.Get("Location") != "/index.php?q=redirected" {
			t.Errorf("redirect: %d %v", status, h)
		}
	})
	t.Run("missing script", func(t *testing.T) {
		status, body, _ := readAll(t)(c.Get(base + "/nothing.php"))
		if status != 404 {
			t.Errorf("%d %q, want PHP-FPM's 404", status, body)
		}
	})
	t.Run("directory redirect", func(t *testing.T) {
		status, _, h := readAll(t)(c.Get(base + "/sub"))
		if status != 301 || h.Get("Location") != "/sub/" {
			t.Errorf("%d %v", status, h)
		}
	})
}
