package dist_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// need skips the test when an external program or condition is missing, and fails it instead when
// CASKET_REQUIRE_EXTERNAL=1 (CI installs the systemd and libcap2-bin packages and runs as root).
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" {
		t.Fatalf("%s (required by CASKET_REQUIRE_EXTERNAL=1)", what)
	}
	t.Skip(what)
}

func lookPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// unitSettings reads casket.service into section → key → values (a key may repeat).
func unitSettings(t *testing.T) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open("casket.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("malformed unit line %q", line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestUnitSettings(t *testing.T) {
	svc := unitSettings(t)["Service"]
	tests := []struct{ key, want string }{
		{"User", "casket"},
		{"Group", "casket"},
		{"ExecStart", "/usr/local/bin/casket -conf /etc/casket/Casketfile -agree -log stdout -quiet"},
		{"ExecReload", "/bin/kill -USR1 $MAINPID"},
		{"Environment", "CASKETPATH=/var/lib/casket"},
		{"StateDirectory", "casket"},
		{"AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
		{"CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
		{"NoNewPrivileges", "true"},
		{"LimitNOFILE", "1048576"},
		{"ProtectSystem", "strict"},
		{"ReadWritePaths", "/var/lib/casket"},
		{"ProtectHome", "true"},
		{"PrivateTmp", "true"},
		{"Restart", "on-abnormal"},
		{"TimeoutStopSec", "15s"},
	}
	for _, tt := range tests {
		if got := strings.Join(svc[tt.key], " | "); got != tt.want {
			t.Errorf("%s=%q, want %q", tt.key, got, tt.want)
		}
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit, with ExecStart pointing at an existing
// executable, and fails on any complaint (unknown keys are only warnings, so the output must be empty).
func TestUnitVerifies(t *testing.T) {
	need(t, lookPath("systemd-analyze"), "systemd-analyze not found (Debian/Ubuntu package: systemd)")
	unit, err := os.ReadFile("casket.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit = bytes.ReplaceAll(unit, []byte("/usr/local/bin/casket"), []byte(self))
	path := filepath.Join(t.TempDir(), "casket.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestInstallScript installs into a DESTDIR with another PREFIX: the unit follows the prefix and, as
// root with setcap available, the binary carries cap_net_bind_service.
func TestInstallScript(t *testing.T) {
	dest := t.TempDir()
	bin := filepath.Join(t.TempDir(), "casket")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(mode string) string {
		cmd := exec.Command("sh", "install.sh", mode)
		cmd.Env = append(os.Environ(), "BIN="+bin, "PREFIX=/opt/casket", "DESTDIR="+dest)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh %s: %v\n%s", mode, err, out)
		}
		return string(out)
	}
	out := run("service")
	unit, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/casket.service"))
	if err != nil {
		t.Fatalf("unit not installed: %v\n%s", err, out)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/opt/casket/bin/casket -conf")) {
		t.Errorf("installed unit does not follow PREFIX:\n%s", unit)
	}

	if os.Geteuid() != 0 || !lookPath("setcap") || !lookPath("getcap") {
		t.Log("binary install with setcap needs root and libcap2-bin; checked the unit only")
		return
	}
	out = run("binary")
	installed := filepath.Join(dest, "opt/casket/bin/casket")
	caps, err := exec.Command("getcap", installed).CombinedOutput()
	if err != nil || !strings.Contains(string(caps), "cap_net_bind_service") {
		t.Errorf("getcap %s = %q (%v); install said:\n%s", installed, caps, err, out)
	}
}

// TestUnprivilegedUserBindsLowPorts builds casket, gives the binary cap_net_bind_service with setcap and
// runs it as a fresh unprivileged user serving http://127.0.0.1:80 and https://127.0.0.1:443 (tls
// self_signed); another loopback address when something else holds those ports. A copy
// without the capability is refused the same ports, which shows the capability is what makes it work.
func TestUnprivilegedUserBindsLowPorts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds casket and creates a user; skipped with -short")
	}
	need(t, os.Geteuid() == 0, "not root: cannot create a user or set file capabilities")
	need(t, lookPath("setcap"), "setcap not found (Debian/Ubuntu package: libcap2-bin)")
	need(t, lookPath("useradd") && lookPath("userdel"), "useradd/userdel not found (package: passwd)")

	uid, gid := testUser(t, "casket-dist-test")
	dir, err := os.MkdirTemp("", "casket-dist-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // reachable by the test user
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "casket")
	build := exec.Command("go", "build", "-o", bin, "./cmd/casket")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/casket: %v\n%s", err, out)
	}
	nocap := filepath.Join(dir, "casket-nocap")
	copyFile(t, bin, nocap)
	if out, err := exec.Command("setcap", "cap_net_bind_service=+ep", bin).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v\n%s", err, out)
	}

	www := filepath.Join(dir, "www")
	data := filepath.Join(dir, "data")
	for _, d := range []string{www, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from casket\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "Casketfile")
	ip := freeLoopback(t)
	src := fmt.Sprintf("http://%[2]s:80 {\n\tbind %[2]s\n\troot %[1]s\n}\n"+
		"https://%[2]s:443 {\n\tbind %[2]s\n\troot %[1]s\n\ttls self_signed\n}\n", www, ip)
	if err := os.WriteFile(conf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// The command line of the unit's ExecStart, with the test's binary and Casketfile.
	execStart := strings.Fields(unitSettings(t)["Service"]["ExecStart"][0])
	start := func(program string) (*exec.Cmd, *bytes.Buffer) {
		args := slices.Clone(execStart[1:])
		for i, a := range args {
			if a == "/etc/casket/Casketfile" {
				args[i] = conf
			}
		}
		cmd := exec.Command(program, args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "CASKETPATH=" + data}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}

	if port, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); atoi(port) > 80 {
		cmd, out := start(nocap)
		err := waitTimeout(cmd, 15*time.Second)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out.String(), "permission denied") {
			t.Fatalf("without the capability: %v, want exit 1 with permission denied; output:\n%s", err, out)
		}
	} else {
		t.Logf("ip_unprivileged_port_start is %s: any user may bind port 80 here, no control run", bytes.TrimSpace(port))
	}

	cmd, out := start(bin)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := waitTimeout(cmd, 15*time.Second); err != nil {
			t.Errorf("casket did not stop cleanly: %v\n%s", err, out)
		}
	})
	for _, url := range []string{"http://" + ip + ":80/", "https://" + ip + ":443/"} {
		body, err := getWhenUp(url, 20*time.Second)
		if err != nil {
			t.Fatalf("GET %s: %v; casket output:\n%s", url, err, out)
		}
		if body != "hello from casket\n" {
			t.Errorf("GET %s = %q", url, body)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Uid:\t%d\t%d", uid, uid); !strings.Contains(string(status), want) {
		t.Errorf("casket is not running as the test user (want %q):\n%s", want, status)
	}
}

// freeLoopback returns a loopback address whose ports 80 and 443 are free: 127.0.0.1 unless another
// server (a benchmark, a local web server) holds them, then another address of 127.0.0.0/8.
func freeLoopback(t *testing.T) string {
	t.Helper()
	for _, ip := range []string{"127.0.0.1", "127.0.80.1", "127.0.80.2", "127.0.80.3"} {
		free := true
		for _, port := range []string{"80", "443"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			if ip != "127.0.0.1" {
				t.Logf("ports 80/443 of 127.0.0.1 are in use; testing on %s", ip)
			}
			return ip
		}
	}
	t.Fatal("ports 80 and 443 are taken on every loopback address tried")
	return ""
}

// testUser creates a system user (removed after the test) and returns its ids.
func testUser(t *testing.T, name string) (uid, gid int) {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
				t.Errorf("userdel: %v\n%s", err, out)
			}
		})
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func atoi(b []byte) int {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// waitTimeout waits for cmd, killing it after d.
func waitTimeout(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return context.DeadlineExceeded
	}
}

// getWhenUp fetches url, retrying while the server is still starting. The HTTPS site's certificate is
// self-signed.
func getWhenUp(url string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	for {
		resp, err := client.Get(url)
		if err == nil {
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return string(b), fmt.Errorf("status %s", resp.Status)
			}
			return string(b), err
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
