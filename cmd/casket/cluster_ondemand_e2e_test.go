package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
	"github.com/casketserver/casket/internal/servicetest"
)

// TestE2EClusterOnDemandMaxCerts: two casket processes sharing redis (CASKET_CLUSTERING=redis), or a
// folder (CASKET_CLUSTERING=file), serve `*.casket.test` with `max_certs 2`. Three names handshaked across
// both get exactly two certificates: the third is refused by each instance, the CA sees two orders, each
// instance serves the other's certificates from the shared storage, and the count survives a restart of
// the whole cluster.
func TestE2EClusterOnDemandMaxCerts(t *testing.T) {
	needBinary(t)
	for _, b := range []struct {
		name    string
		backend func(t *testing.T) env
	}{
		{"redis", func(t *testing.T) env {
			r := servicetest.StartRedis(t)
			return env{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_HOST": r.Host,
				"CASKET_CLUSTERING_REDIS_PORT": fmt.Sprint(r.Port)}
		}},
		{"file", func(t *testing.T) env {
			return env{"CASKET_CLUSTERING": "file", "CASKETPATH": filepath.Join(t.TempDir(), "shared-casketpath")}
		}},
	} {
		t.Run(b.name, func(t *testing.T) { testClusterOnDemandMaxCerts(t, b.backend(t)) })
	}
}

func testClusterOnDemandMaxCerts(t *testing.T, backend env) {
	a := newACMEEnv(t, acmetest.Options{})
	conf := writeConf(t, t.TempDir(), "*.casket.test {\n\troot www\n\ttls {\n\t\tmax_certs 2\n\t}\n}\n")
	type instance struct {
		p                   *proc
		httpPort, httpsPort string
		env                 env
	}
	// The first instance listens where Pebble validates; the second's challenges are answered there too,
	// from the shared storage.
	insts := []*instance{{httpPort: a.httpPort, httpsPort: a.httpsPort}, {httpPort: freePort(t), httpsPort: freePort(t)}}
	for i, in := range insts {
		dir := t.TempDir()
		idFile := filepath.Join(dir, "uuid")
		if err := os.WriteFile(idFile, []byte(fmt.Sprintf("instance-%d\n", i)), 0o600); err != nil {
			t.Fatal(err)
		}
		in.env = env{"CASKETPATH": filepath.Join(dir, "casketpath"), "SSL_CERT_FILE": a.peb.DirectoryRootFile,
			"CASKET_UUID_FILE": idFile}
		maps.Copy(in.env, backend)
	}
	startAll := func() {
		for _, in := range insts {
			in.p = newProc(t, in.env, "-conf", conf, "-ca", a.peb.DirectoryURL, "-http-port", in.httpPort,
				"-https-port", in.httpsPort, "-email", "ops@casket.test", "-agree", "-log", "stderr",
				"-catimeout", "20s", "-disable-tls-alpn-challenge").start()
		}
		for _, in := range insts {
			in.p.waitBanner()
		}
	}
	startAll()

	var obtained []string
	for _, tc := range []struct {
		name string
		on   int
	}{
		{"one.casket.test", 0},
		{"two.casket.test", 1},
		{"three.casket.test", 0},
		{"three.casket.test", 1},
	} {
		leaf, err := handshakeWithin(tc.name, insts[tc.on].httpsPort, a.peb.Roots, 30*time.Second)
		if err == nil && leaf.VerifyHostname(tc.name) == nil {
			obtained = append(obtained, fmt.Sprintf("%s@%d", tc.name, tc.on))
		}
	}
	if want := []string{"one.casket.test@0", "two.casket.test@1"}; strings.Join(obtained, " ") != strings.Join(want, " ") {
		t.Errorf("certificates obtained: %v, want %v", obtained, want)
	}
	if got := a.peb.Orders(); got != 2 {
		t.Errorf("orders at the CA = %d, want 2", got)
	}
	for i, in := range insts {
		if !waitLogLine(in.p, "on-demand certificate denied", "three.casket.test", "max_certs", "in the cluster") {
			t.Errorf("instance %d: no logged max_certs denial for three.casket.test:\n%s", i,
				strings.Join(logLines(in.p.stderr.String(), "three.casket.test"), "\n"))
		}
	}
	// each instance serves the certificate the other obtained, from the shared storage
	for _, tc := range []struct {
		name string
		on   int
	}{{"one.casket.test", 1}, {"two.casket.test", 0}} {
		if _, err := handshakeWithin(tc.name, insts[tc.on].httpsPort, a.peb.Roots, 10*time.Second); err != nil {
			t.Errorf("%s on instance %d: %v", tc.name, tc.on, err)
		}
	}
	if got := a.peb.Orders(); got != 2 {
		t.Errorf("orders after cross-serving = %d, want 2", got)
	}

	// the count lives in the storage: a restarted cluster still refuses a third name
	for _, in := range insts {
		in.p.stop()
	}
	startAll()
	if _, err := handshakeWithin("four.casket.test", insts[1].httpsPort, a.peb.Roots, 10*time.Second); err == nil {
		t.Error("a third name obtained after the cluster restarted: the max_certs count was lost")
	}
	if _, err := handshakeWithin("one.casket.test", insts[1].httpsPort, a.peb.Roots, 10*time.Second); err != nil {
		t.Errorf("stored name after the restart: %v", err)
	}
	if got := a.peb.Orders(); got != 2 {
		t.Errorf("orders after the restart = %d, want 2", got)
	}
}
