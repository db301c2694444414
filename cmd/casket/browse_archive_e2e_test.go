package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestE2EBrowseArchive downloads a directory as a tar.gz from the casket binary with a real client
// (curl, which also names the file from Content-Disposition; net/http where curl is missing) and
// reads the archive back.
func TestE2EBrowseArchive(t *testing.T) {
	needBinary(t)
	port, site := freePort(t), t.TempDir()
	files := map[string]string{
		"pub/readme.txt":         "hello from casket\n",
		"pub/img/logo.svg":       "<svg/>",
		"pub/nested/deep/x.json": `{"x":1}`,
		"pub/big.log":            strings.Repeat("a line of a log file\n", 20000),
		"outside-pub.txt":        "not under /pub",
	}
	for name, data := range files {
		p := filepath.Join(site, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "outside.txt")
	if err := os.WriteFile(outside, []byte("outside the root"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(site, "pub", "escape.txt")); err != nil {
		t.Fatal(err)
	}
	// The Casketfile lives in pub/, inside the root: it must stay out of the archive.
	conf := writeConf(t, filepath.Join(site, "pub"), fmt.Sprintf(`127.0.0.1:%s {
	root %s
	gzip
	browse /pub {
		servearchive tar.gz zip
		buffer 256KB
	}
}
`, port, site))
	startCasket(t, nil, "127.0.0.1:"+port, "-conf", conf, "-log", "stderr")
	url := "http://127.0.0.1:" + port + "/pub/?archive=tar.gz"

	var archive []byte
	if curl, err := exec.LookPath("curl"); err == nil {
		out := t.TempDir()
		cmd := exec.Command(curl, "-sS", "-f", "--compressed", "-O", "-J", "-D", filepath.Join(out, "headers"), url)
		cmd.Dir = out
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("curl: %v\n%s", err, b)
		}
		hdrs, _ := os.ReadFile(filepath.Join(out, "headers"))
		// Already compressed: served as is, even with gzip on and a client accepting encodings.
		lower := strings.ToLower(string(hdrs))
		if !strings.Contains(lower, "content-type: application/gzip") || strings.Contains(lower, "content-encoding") {
			t.Errorf("headers:\n%s", hdrs)
		}
		// -J saved the download under the name from Content-Disposition.
		if archive, err = os.ReadFile(filepath.Join(out, "pub.tar.gz")); err != nil {
			t.Fatalf("curl did not save pub.tar.gz: %v", err)
		}
	} else {
		if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
			t.Fatal("curl not found and CASKET_REQUIRE_EXTERNAL=1")
		}
		t.Log("curl not installed: downloading with net/http")
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || cd != `attachment; filename="pub.tar.gz"` {
			t.Fatalf("status %d, Content-Disposition %q", resp.StatusCode, cd)
		}
		if archive, err = io.ReadAll(resp.Body); err != nil {
			t.Fatal(err)
		}
	}

	zr, err := gzip.NewReader(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]string{}
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		got[h.Name] = string(data)
	}
	want := []string{"pub/", "pub/big.log", "pub/img/", "pub/img/logo.svg", "pub/nested/", "pub/nested/deep/",
		"pub/nested/deep/x.json", "pub/readme.txt"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("entries %q\nwant %q", names, want)
	}
	for _, name := range []string{"pub/readme.txt", "pub/big.log", "pub/nested/deep/x.json"} {
		if got[name] != files[name] {
			t.Errorf("%s: %d bytes, want %d", name, len(got[name]), len(files[name]))
		}
	}

	// The listing offers the enabled formats.
	resp, err := http.Get("http://127.0.0.1:" + port + "/pub/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `href="?archive=tar.gz"`) || !strings.Contains(string(body), `href="?archive=zip"`) {
		t.Errorf("listing lacks archive links:\n%s", body)
	}

	// A format that is not enabled is refused.
	resp, err = http.Get("http://127.0.0.1:" + port + "/pub/?archive=tar.xz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("tar.xz (not enabled): status %d, want 404", resp.StatusCode)
	}
}
