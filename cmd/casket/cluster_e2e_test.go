package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/casketserver/casket/internal/dnstest"
	"github.com/casketserver/casket/internal/servicetest"
)

// member is one casket process of a test cluster.
type member struct {
	p         *proc
	id        string // its instance identity (CASKET_UUID_FILE), the holder recorded with its locks
	httpsPort string
}

// clusterConf is a Casketfile serving names with the DNS challenge through bind; knobs are extra lines
// of the tls block.
func clusterConf(bindAddr string, names []string, knobs string) string {
	return fmt.Sprintf("%s {\n\troot www\n\ttls {\n\t\tdns rfc2136\n\t\tresolvers %s\n\t\tdns_ttl 5s\n%s\t}\n}\n",
		strings.Join(names, ", "), bindAddr, knobs)
}

// startCluster starts n casket processes on one Casketfile at the same moment, each on its own HTTP and
// HTTPS ports with its own identity, sharing the storage backend selects (plus one CASKETPATH for all
// when sharedPath), and waits for their banners.
func startCluster(t *testing.T, d *dnsEnv, creds, backend env, sharedPath bool, n int, body string) []*member {
	t.Helper()
	conf := writeConf(t, t.TempDir(), body)
	shared := filepath.Join(t.TempDir(), "shared-casketpath")
	var ms []*member
	for i := range n {
		dir := t.TempDir()
		m := &member{id: fmt.Sprintf("instance-%d", i), httpsPort: freePort(t)}
		idFile := filepath.Join(dir, "uuid")
		if err := os.WriteFile(idFile, []byte(m.id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e := maps.Clone(d.env)
		maps.Copy(e, creds)
		maps.Copy(e, backend)
		e["CASKET_UUID_FILE"] = idFile
		e["CASKETPATH"] = filepath.Join(dir, "casketpath")
		if sharedPath {
			e["CASKETPATH"] = shared
		}
		m.p = newProc(t, e, "-conf", conf, "-ca", d.peb.DirectoryURL, "-http-port", freePort(t),
			"-https-port", m.httpsPort, "-email", "ops@casket.test", "-agree", "-log", "stderr", "-catimeout", "20s")
		ms = append(ms, m)
	}
	for _, m := range ms { // started back to back: they race for every name
		m.p.start()
	}
	for _, m := range ms {
		m.p.waitBanner()
	}
	return ms
}

// clusterNames are the names every member of the cluster serves.
func clusterNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%02d.%s", i+1, dnstest.Zone)
	}
	return names
}

// TestE2EClusterNoDuplicateOrders: three casket processes started at the same moment with the same 20
// names and one shared storage place exactly 20 orders between them, and every process ends up serving
// all 20 certificates (the same ones), for each CASKET_CLUSTERING backend.
func TestE2EClusterNoDuplicateOrders(t *testing.T) {
	needBinary(t)
	backends := []struct {
		name   string
		shared bool
		env    func(t *testing.T) env
	}{
		{name: "file", shared: true, env: func(*testing.T) env { return env{"CASKET_CLUSTERING": "file"} }},
		{name: "redis", env: func(t *testing.T) env {
			r := servicetest.StartRedis(t)
			return env{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_HOST": r.Host,
				"CASKET_CLUSTERING_REDIS_PORT": fmt.Sprint(r.Port)}
		}},
		{name: "postgres", env: func(t *testing.T) env {
			pg := servicetest.StartPostgres(t)
			return env{"CASKET_CLUSTERING": "postgres", "CASKET_CLUSTERING_POSTGRES_DSN": pg.DSN}
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			backend := b.env(t)
			bind := dnstest.StartBIND(t)
			d := newDNSEnv(t, bind.Addr)
			names := clusterNames(20)
			start := time.Now()
			ms := startCluster(t, d, bindCreds(t, bind), backend, b.shared, 3, clusterConf(bind.Addr, names, ""))
			serials := map[string]string{}
			for _, m := range ms {
				for _, n := range names {
					leaf := waitCert(t, n, m.httpsPort, d.peb.Roots, 90*time.Second)
					s := leaf.SerialNumber.String()
					if want, ok := serials[n]; ok && s != want {
						t.Errorf("%s serves %s with serial %s, another member with %s", m.id, n, s, want)
					}
					serials[n] = s
				}
			}
			t.Logf("%s: 3 members serve all %d names after %v", b.name, len(names), time.Since(start).Round(time.Millisecond))
			time.Sleep(time.Second) // a late duplicate order would show by now
			if got := d.peb.Orders(); got != len(names) {
				t.Errorf("pebble got %d orders, want %d", got, len(names))
			}
			if got := d.peb.Issued(); got != len(names) {
				t.Errorf("pebble issued %d certificates, want %d", got, len(names))
			}
			checkClusterDNSOnly(t, ms)
			for _, m := range ms {
				m.p.stop()
				checkNoSecret(t, m.p, "TSIG secret", bind.Secret)
			}
		})
	}
}

// checkClusterDNSOnly checks that the members solved DNS challenges only, and logs how many
// certificates each obtained (a member that won no lock obtains none).
func checkClusterDNSOnly(t *testing.T, ms []*member) {
	t.Helper()
	var dns01 int
	var share []string
	for _, m := range ms {
		log := m.p.stderr.String()
		dns01 += strings.Count(log, `"challenge_type": "dns-01"`)
		for _, other := range []string{"http-01", "tls-alpn-01"} {
			if strings.Contains(log, `"challenge_type": "`+other+`"`) {
				t.Errorf("%s tried a %s challenge; the DNS challenge must be exclusive", m.id, other)
			}
		}
		share = append(share, fmt.Sprintf("%s %d", m.id, strings.Count(log, "certificate obtained successfully")))
	}
	if dns01 == 0 {
		t.Errorf("no member's log shows a dns-01 challenge")
	}
	t.Logf("certificates obtained per member: %s", strings.Join(share, ", "))
}

// TestE2EClusterKillLockHolder: of three casket processes sharing a Redis storage, the one holding the
// issuance lock is killed with SIGKILL in the middle of issuance (during the DNS propagation delay, after
// its order was placed). Another process takes the lock within the lease time, completes the certificate,
// and all survivors serve it; the only extra order is the killed one's.
func TestE2EClusterKillLockHolder(t *testing.T) {
	needBinary(t)
	r := servicetest.StartRedis(t)
	bind := dnstest.StartBIND(t)
	d := newDNSEnv(t, bind.Addr)
	const name = "kill." + dnstest.Zone
	const delay = 4 * time.Second
	const lease = 10 * time.Second // cluster.DefaultTTL
	backend := env{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_HOST": r.Host,
		"CASKET_CLUSTERING_REDIS_PORT": fmt.Sprint(r.Port)}
	ms := startCluster(t, d, bindCreds(t, bind), backend, false, 3,
		clusterConf(bind.Addr, []string{name}, fmt.Sprintf("\t\tpropagation_delay %s\n", delay)))

	rc := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	t.Cleanup(func() { rc.Close() })
	lockKey := "casket/lock/issue_cert_" + name
	holder := func() string {
		h, _ := rc.HGet(context.Background(), lockKey, "holder").Result()
		return h
	}

	// wait for the holder's order at Pebble, then kill the holder
	deadline := time.Now().Add(30 * time.Second)
	for d.peb.Orders() == 0 || holder() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no order and lock within 30s (orders %d, holder %q)", d.peb.Orders(), holder())
		}
		time.Sleep(20 * time.Millisecond)
	}
	first := holder()
	var victim *member
	var survivors []*member
	for _, m := range ms {
		if m.id == first {
			victim = m
		} else {
			survivors = append(survivors, m)
		}
	}
	if victim == nil {
		t.Fatalf("lock %s held by %q, which is none of the members", lockKey, first)
	}
	if !strings.Contains(victim.p.stderr.String(), name) {
		t.Errorf("the holder's log does not mention %s", name)
	}
	if d.peb.Issued() != 0 {
		t.Fatalf("the certificate was issued before the kill; the propagation delay did not hold issuance back")
	}
	victim.p.signal(syscall.SIGKILL)
	victim.p.wait(5 * time.Second)
	killed := time.Now()

	// another member takes the lock within the lease
	var next string
	for next = holder(); next == "" || next == first; next = holder() {
		if time.Since(killed) > lease+2*time.Second {
			t.Fatalf("lock still %q %v after the holder was killed; the lease is %v", holder(), time.Since(killed), lease)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tookOver := time.Since(killed)
	if next != survivors[0].id && next != survivors[1].id {
		t.Fatalf("lock taken by %q, which is no surviving member", next)
	}

	// and completes the certificate, which every survivor serves
	var wg sync.WaitGroup
	serials := make([]string, len(survivors))
	for i, m := range survivors {
		wg.Go(func() {
			serials[i] = waitCert(t, name, m.httpsPort, d.peb.Roots, lease+delay+30*time.Second).SerialNumber.String()
		})
	}
	wg.Wait()
	served := time.Since(killed)
	t.Logf("holder %s killed; %s took the lock after %v; certificate served by both survivors %v after the kill",
		first, next, tookOver.Round(time.Millisecond), served.Round(time.Millisecond))
	if serials[0] != serials[1] {
		t.Errorf("survivors serve different certificates: %s and %s", serials[0], serials[1])
	}
	time.Sleep(time.Second)
	if got := d.peb.Orders(); got != 2 {
		t.Errorf("pebble got %d orders, want 2 (the killed holder's and its successor's)", got)
	}
	if got := d.peb.Issued(); got != 1 {
		t.Errorf("pebble issued %d certificates, want 1", got)
	}
	for _, m := range survivors {
		m.p.stop()
		checkNoSecret(t, m.p, "TSIG secret", bind.Secret)
	}
}
