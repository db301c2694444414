package tlsmgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/internal/acmetest"
	"github.com/casketserver/casket/internal/servicetest"
	"github.com/casketserver/casket/tlsmgr/cluster"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestStorageFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string // substring of the storage's description
		wantErr string
	}{
		{name: "default is file", env: map[string]string{}, want: "file:"},
		{name: "file", env: map[string]string{"CASKET_CLUSTERING": "file"}, want: "file:"},
		{name: "encrypted file", env: map[string]string{"CASKET_CLUSTERING_AESKEY": "0123456789abcdef"}, want: "encrypted file:"},
		{name: "unknown", env: map[string]string{"CASKET_CLUSTERING": "consul"}, wantErr: "valid values: file, redis, postgres"},
		{name: "bad key", env: map[string]string{"CASKET_CLUSTERING_AESKEY": "short"}, wantErr: "CASKET_CLUSTERING_AESKEY"},
		{name: "bad redis db", env: map[string]string{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_DB": "x"}, wantErr: "CASKET_CLUSTERING_REDIS_DB"},
		{name: "bad redis tls", env: map[string]string{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_TLS": "maybe"}, wantErr: "CASKET_CLUSTERING_REDIS_TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := StorageFromEnv(context.Background(), envMap(tt.env), t.TempDir(), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(s); !strings.Contains(got, tt.want) {
				t.Errorf("storage = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPostgresDSN(t *testing.T) {
	got := postgresDSN(envMap(map[string]string{"PGHOST": "db", "PGPASSWORD": `it's\`}))
	if want := `host='db' password='it\'s\\'`; got != want {
		t.Errorf("postgresDSN = %s, want %s", got, want)
	}
	got = postgresDSN(envMap(map[string]string{"CASKET_CLUSTERING_POSTGRES_DSN": "postgres://x", "PGHOST": "db"}))
	if got != "postgres://x" {
		t.Errorf("postgresDSN = %s, want the explicit DSN", got)
	}
}

// clusterBackend starts a backend for a cluster test and returns the environment selecting it, plus
// functions to take it down and bring it back (nil for file).
type clusterBackend struct {
	name        string
	start       func(t testing.TB) (env map[string]string, stop, restart func())
	needsServer bool
}

var clusterBackends = []clusterBackend{
	{name: "file", start: func(t testing.TB) (map[string]string, func(), func()) {
		return map[string]string{"CASKET_CLUSTERING": "file"}, nil, nil
	}},
	{name: "redis", start: func(t testing.TB) (map[string]string, func(), func()) {
		r := servicetest.StartRedis(t)
		return map[string]string{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_HOST": r.Host,
			"CASKET_CLUSTERING_REDIS_PORT": fmt.Sprint(r.Port)}, r.Stop, r.Start
	}},
	{name: "postgres", start: func(t testing.TB) (map[string]string, func(), func()) {
		p := servicetest.StartPostgres(t)
		return map[string]string{"CASKET_CLUSTERING": "postgres", "CASKET_CLUSTERING_POSTGRES_DSN": p.DSN}, p.Stop, p.Start
	}},
}

// servedSerial returns the serial of the certificate m serves for name, or "" if none.
func servedSerial(m *Manager, p *Policy, name string) string {
	c, err := m.TLSConfig(p).GetCertificate(&tls.ClientHelloInfo{ServerName: name, Conn: loopConn{}})
	if err != nil || c == nil || len(c.Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil || leaf.VerifyHostname(name) != nil {
		return ""
	}
	return leaf.SerialNumber.String()
}

// loopConn is the connection of a ClientHello that never touches the network.
type loopConn struct{ net.Conn }

func (loopConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }
func (loopConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000} }

// waitServed waits until every manager serves a certificate for every name that satisfies ok.
func waitServed(t *testing.T, ms []*Manager, p *Policy, names []string, within time.Duration, ok func(m int, name, serial string) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var missing []string
		for i, m := range ms {
			for _, n := range names {
				if s := servedSerial(m, p, n); s == "" || !ok(i, n, s) {
					missing = append(missing, fmt.Sprintf("%d:%s=%q", i, n, s))
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still not served as expected: %v", within, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startCluster starts Pebble and three Managers with separate caches and separate storage clients on
// one shared backend, as three Casket instances would.
func startCluster(t *testing.T, env map[string]string, validity time.Duration) (*acmetest.Pebble, []*Manager, *Policy) {
	site := newTestSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort, Validity: validity})
	dir := t.TempDir()
	var ms []*Manager
	for range 3 {
		s, err := StorageFromEnv(context.Background(), envMap(env), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeStorage(s) })
		ms = append(ms, site.start(peb, dir, func(o *Options) {
			o.Storage = s
			o.RenewInterval = 500 * time.Millisecond
		}))
	}
	return peb, ms, site.policy
}

// manageAll calls Manage on every manager at the same moment.
func manageAll(t *testing.T, ms []*Manager, p *Policy, names []string) {
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Manage(context.Background(), names, p); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func clusterNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%02d.cluster.test", prefix, i)
	}
	return names
}

// sameEverywhere returns a waitServed predicate satisfied when all managers serve one serial per name.
func sameEverywhere(n int) func(int, string, string) bool {
	var mu sync.Mutex
	seen := make(map[string]string)
	round := -1
	return func(m int, name, serial string) bool {
		mu.Lock()
		defer mu.Unlock()
		if m == 0 && round != m {
			clear(seen) // a new poll
		}
		round = m
		if seen[name] == "" {
			seen[name] = serial
		}
		return seen[name] == serial
	}
}

// TestClusterOrders: the same 20 names on three instances started together give exactly 20 orders; with
// a server backend, a crash and restart of the backend is survived: certificates in memory keep being
// served and a name added during the outage gets its certificate once the backend is back.
func TestClusterOrders(t *testing.T) {
	skipShort(t)
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			env, stop, restart := b.start(t)
			peb, ms, p := startCluster(t, env, 0)
			names := clusterNames("n", 20)
			start := time.Now()
			manageAll(t, ms, p, names)
			waitServed(t, ms, p, names, 40*time.Second, sameEverywhere(len(names)))
			t.Logf("20 names served by 3 instances after %v", time.Since(start))
			if got := peb.Orders(); got != len(names) {
				t.Fatalf("Pebble saw %d orders for %d names on 3 instances, want exactly %d", got, len(names), len(names))
			}
			if stop == nil {
				return
			}
			stop()
			waitServed(t, ms, p, names, time.Second, func(int, string, string) bool { return true })
			extra := "late.cluster.test"
			manageDone := make(chan error, 1)
			go func() { manageDone <- ms[0].Manage(context.Background(), []string{extra}, p) }()
			time.Sleep(2 * time.Second)
			waitServed(t, ms, p, names, time.Second, func(int, string, string) bool { return true })
			restart()
			if err := <-manageDone; err != nil {
				t.Logf("Manage during the outage: %v", err)
			}
			waitServed(t, ms[:1], p, []string{extra}, 30*time.Second, func(int, string, string) bool { return true })
			if got := peb.Orders(); got > len(names)+2 {
				t.Errorf("Pebble saw %d orders, want at most %d", got, len(names)+2)
			}
		})
	}
}

// TestClusterRenewal: when certificates come due, one instance renews each under the lock and all
// instances serve the renewed certificate (certmagic checks storage before renewing), without restart.
func TestClusterRenewal(t *testing.T) {
	skipShort(t)
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			env, _, _ := b.start(t)
			// 60-second certificates: renewal starts at 40 s, so a slow first issuance on a busy machine
			// does not let a second renewal round begin before the count below.
			peb, ms, p := startCluster(t, env, 60*time.Second)
			names := clusterNames("r", 5)
			manageAll(t, ms, p, names)
			first := make(map[string]string)
			for _, n := range names {
				waitServed(t, ms[:1], p, []string{n}, 20*time.Second, func(_ int, n, s string) bool { first[n] = s; return true })
			}
			waitServed(t, ms, p, names, 75*time.Second, func(_ int, n, s string) bool { return s != first[n] })
			waitServed(t, ms, p, names, 5*time.Second, sameEverywhere(len(names)))
			// one order per name per round: 10 after one renewal each, a few more if a next round began;
			// renewing per instance would give 5 + 3×5
			if got := peb.Orders(); got > 3*len(names) {
				t.Errorf("Pebble saw %d orders for %d names renewed once by a cluster of 3, want at most %d", got, len(names), 3*len(names))
			} else {
				t.Logf("%d orders for %d names after one renewal round", got, len(names))
			}
		})
	}
}

// TestClusterLeaseLostStopsOrder shows that an order whose lock lease is lost is abandoned: the Manager's
// obtain context is cancelled with ErrLeaseLost.
func TestClusterLeaseLostStopsOrder(t *testing.T) {
	m := newTestManager(t, nil)
	pc := m.base
	blocked := &leaseLossStorage{Storage: m.storage}
	pc.obtain.Storage = blocked
	done := make(chan error, 1)
	go func() { done <- m.obtainFenced(pc, "lost.casket.test") }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), cluster.ErrLeaseLost.Error()) {
			t.Fatalf("obtain after a lost lease = %v, want ErrLeaseLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the order went on after its lease was lost")
	}
}

// leaseLossStorage grants every lock and reports it lost at once, then blocks until the context ends.
type leaseLossStorage struct{ certmagic.Storage }

func (s *leaseLossStorage) Lock(ctx context.Context, name string) error {
	lost := cluster.LeaseLostFunc(ctx)
	if lost == nil {
		return fmt.Errorf("no lease-lost function in the lock context")
	}
	go lost(name)
	<-ctx.Done()
	return ctx.Err()
}

func (s *leaseLossStorage) Unlock(context.Context, string) error { return nil }

// TestFileStorageHolder: the default storage records the identity from CASKET_UUID_FILE with its locks.
func TestFileStorageHolder(t *testing.T) {
	dir := t.TempDir()
	idFile := dir + "/instance.uuid"
	if err := os.WriteFile(idFile, []byte("node-7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := StorageFromEnv(context.Background(), envMap(map[string]string{"CASKET_UUID_FILE": idFile}), dir+"/store", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStorage(s)
	ctx := context.Background()
	if err := s.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	h, _, ok, err := s.(cluster.LockInspector).LockHolder(ctx, "issue_cert_a.example")
	if err != nil || !ok || h != "node-7" {
		t.Errorf("LockHolder = %q, %v, %v; want node-7", h, ok, err)
	}
	if err := s.Unlock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
}

// Only a file system without working file locks falls back to plain lock files (without
// CASKET_CLUSTERING); a folder that is broken some other way is an error whatever the setting.
func TestStorageFromEnvBrokenFolder(t *testing.T) {
	for _, env := range []map[string]string{{}, {"CASKET_CLUSTERING": "file"}} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "locks"), []byte("not a folder"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := StorageFromEnv(context.Background(), envMap(env), dir, nil)
		if err == nil {
			t.Errorf("env %v: storage %s over a folder whose locks/ is a file, want an error", env, s)
			closeStorage(s)
		}
	}
}
