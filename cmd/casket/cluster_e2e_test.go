package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/casketserver/casket/internal/acmetest"
	"github.com/casketserver/casket/internal/dnstest"
	"github.com/casketserver/casket/internal/servicetest"
	"github.com/casketserver/casket/tlsmgr/cluster/file"
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
// HTTPS ports with its own identity, sharing the storage backend selects, and waits for their banners.
// Each gets a CASKETPATH of its own unless backend sets one for all.
func startCluster(t *testing.T, d *dnsEnv, creds, backend env, n int, body string) []*member {
	t.Helper()
	conf := writeConf(t, t.TempDir(), body)
	var ms []*member
	for i := range n {
		dir := t.TempDir()
		m := &member{id: fmt.Sprintf("instance-%d", i), httpsPort: freePort(t)}
		idFile := filepath.Join(dir, "uuid")
		if err := os.WriteFile(idFile, []byte(m.id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e := maps.Clone(d.env)
		e["CASKETPATH"] = filepath.Join(dir, "casketpath")
		maps.Copy(e, creds)
		maps.Copy(e, backend)
		e["CASKET_UUID_FILE"] = idFile
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

// clusterBackend is one CASKET_CLUSTERING storage started for a test.
type clusterBackend struct {
	env env // casket's settings for it
	// holder returns the identity of the live member holding the issuance lock of name, as the storage
	// records it, or "" when no live member holds it.
	holder func(t *testing.T, ms []*member, name string) string
}

// clusterBackends start each storage: a shared CASKETPATH, redis-server, PostgreSQL.
var clusterBackends = []struct {
	name  string
	start func(t *testing.T) clusterBackend
}{
	{name: "file", start: func(t *testing.T) clusterBackend {
		dir := filepath.Join(t.TempDir(), "shared-casketpath")
		return clusterBackend{
			env: env{"CASKET_CLUSTERING": "file", "CASKETPATH": dir},
			holder: func(t *testing.T, ms []*member, name string) string {
				s, err := file.New(dir, file.Options{})
				if err != nil {
					return ""
				}
				defer s.Close()
				h, _, _, _ := s.LockHolder(context.Background(), "issue_cert_"+name)
				return liveHolder(ms, h)
			},
		}
	}},
	{name: "redis", start: func(t *testing.T) clusterBackend {
		r := servicetest.StartRedis(t)
		rc := goredis.NewClient(&goredis.Options{Addr: r.Addr})
		t.Cleanup(func() { rc.Close() })
		return clusterBackend{
			env: env{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_HOST": r.Host,
				"CASKET_CLUSTERING_REDIS_PORT": fmt.Sprint(r.Port)},
			holder: func(t *testing.T, ms []*member, name string) string {
				h, _ := rc.HGet(context.Background(), "casket/lock/issue_cert_"+name, "holder").Result()
				return liveHolder(ms, h)
			},
		}
	}},
	{name: "postgres", start: func(t *testing.T) clusterBackend {
		pg := servicetest.StartPostgres(t)
		return clusterBackend{
			env: env{"CASKET_CLUSTERING": "postgres", "CASKET_CLUSTERING_POSTGRES_DSN": pg.DSN},
			holder: func(t *testing.T, ms []*member, name string) string {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				c, err := pgx.Connect(ctx, pg.DSN)
				if err != nil {
					return ""
				}
				defer c.Close(ctx)
				var h string
				_ = c.QueryRow(ctx, `SELECT holder FROM casket_locks WHERE name = $1 AND expires > clock_timestamp()`,
					"issue_cert_"+name).Scan(&h)
				return liveHolder(ms, h)
			},
		}
	}},
}

// liveHolder returns id if it is a member still running, else "" (a killed member's lease may outlive it).
func liveHolder(ms []*member, id string) string {
	for _, m := range ms {
		if m.id == id && !m.p.exited() {
			return id
		}
	}
	return ""
}

// TestE2EClusterNoDuplicateOrders: three casket processes started at the same moment with the same 20
// names and one shared storage place exactly 20 orders between them, and every process ends up serving
// all 20 certificates (the same ones), for each CASKET_CLUSTERING backend.
func TestE2EClusterNoDuplicateOrders(t *testing.T) {
	needBinary(t)
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			backend := b.start(t)
			bind := dnstest.StartBIND(t)
			d := newDNSEnv(t, bind.Addr)
			names := clusterNames(20)
			start := time.Now()
			ms := startCluster(t, d, bindCreds(t, bind), backend.env, 3, clusterConf(bind.Addr, names, ""))
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

// TestE2EClusterKillLockHolder: of three casket processes sharing a storage, the one holding the issuance
// lock is killed with SIGKILL in the middle of issuance (during the DNS propagation delay, after its order
// was placed). Another process takes the lock within the lease time, completes the certificate, and both
// survivors serve it; the only extra order at the CA is the killed one's. For each backend.
func TestE2EClusterKillLockHolder(t *testing.T) {
	needBinary(t)
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) { testKillLockHolder(t, b.start(t)) })
	}
}

func testKillLockHolder(t *testing.T, backend clusterBackend) {
	bind := dnstest.StartBIND(t)
	d := newDNSEnv(t, bind.Addr)
	const name = "kill." + dnstest.Zone
	const delay = 4 * time.Second
	// the lease: cluster.DefaultTTL for every backend
	const lease = 10 * time.Second
	ms := startCluster(t, d, bindCreds(t, bind), backend.env, 3,
		clusterConf(bind.Addr, []string{name}, fmt.Sprintf("\t\tpropagation_delay %s\n", delay)))
	holder := func() string { return backend.holder(t, ms, name) }

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
	// The holder may log its challenge a moment after Pebble records the order.
	for wait := time.Now().Add(5 * time.Second); !strings.Contains(victim.p.stderr.String(), `"dns-01"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Errorf("the holder's log shows no dns-01 challenge under way")
			break
		}
	}
	if d.peb.Issued() != 0 {
		t.Fatalf("the certificate was issued before the kill; the propagation delay did not hold issuance back")
	}
	victim.p.signal(syscall.SIGKILL)
	victim.p.wait(5 * time.Second)
	killed := time.Now()

	// another member takes the lock within the lease
	var next string
	for next = holder(); next == ""; next = holder() {
		if time.Since(killed) > lease+2*time.Second {
			t.Fatalf("no survivor holds the lock %v after the holder was killed; the lease is %v", time.Since(killed), lease)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tookOver := time.Since(killed)

	// and completes the certificate, which both survivors serve
	var wg sync.WaitGroup
	serials := make([]string, len(survivors))
	for i, m := range survivors {
		wg.Go(func() {
			leaf, err := waitCertErr(name, m.httpsPort, d.peb, lease+delay+30*time.Second)
			if err != nil {
				t.Errorf("%s: %v", m.id, err)
				return
			}
			serials[i] = leaf.SerialNumber.String()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
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

// waitCertErr is waitCert for goroutines: it returns the error instead of failing the test.
func waitCertErr(name, port string, peb *acmetest.Pebble, within time.Duration) (*x509.Certificate, error) {
	deadline := time.Now().Add(within)
	for {
		leaf, _, err := handshake(name, port, peb.Roots)
		if err == nil {
			return leaf, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no valid certificate for %s on port %s after %v: %w", name, port, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
