package tlsmgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
		{name: "default is file", env: map[string]string{}, want: "FileStorage:"},
		{name: "file", env: map[string]string{"CASKET_CLUSTERING": "file"}, want: "FileStorage:"},
		{name: "encrypted file", env: map[string]string{"CASKET_CLUSTERING_AESKEY": "0123456789abcdef"}, want: "encrypted FileStorage:"},
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
	start       func(t *testing.T) (env map[string]string, stop, restart func())
	needsServer bool
}

var clusterBackends = []clusterBackend{
	{name: "file", start: func(t *testing.T) (map[string]string, func(), func()) {
		return map[string]string{"CASKET_CLUSTERING": "file"}, nil, nil
	}},
	{name: "redis", start: func(t *testing.T) (map[string]string, func(), func()) {
		r := servicetest.StartRedis(t)
		return map[string]string{"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_HOST": r.Host,
			"CASKET_CLUSTERING_REDIS_PORT": fmt.Sprint(r.Port)}, r.Stop, r.Start
	}},
	{name: "postgres", start: func(t *testing.T) (map[string]string, func(), func()) {
		p := servicetest.StartPostgres(t)
		return map[string]string{"CASKET_CLUSTERING": "postgres", "CASKET_CLUSTERING_POSTGRES_DSN": p.DSN}, p.Stop, p.Start
	}},
}

// servedSerial returns the serial of the certificate m serves for name, or "" if none.
func servedSerial(m *Manager, p *Policy, name string) string {
	c, err := m.TLSConfig(p).GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil || c == nil || len(c.Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil || leaf.VerifyHostname(name) != nil {
		return ""
	}
	return leaf.SerialNumber.String()
}

// waitServed waits until every manager serves a certificate for every name that satisfies ok.
func waitServed(t *testing.T, ms []*Manager, p *Policy, names []string, within time.Duration, ok func(m int, name, serial string) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var missing []string
		for i, m := range ms {
			for _, n := range names {
				if s := servedSerial(m, p, n); s == "" || !ok(i, n, s) {
					missing = append(missing, fmt.Sprintf("%d:%s", i, n))
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

// TestCluster runs three Managers with separate caches and separate storage clients on one shared backend,
// as three Casket instances would: the same 20 names give exactly 20 orders, a renewal done by one is
// served by all, and (for servers) a restart of the backend is survived.
func TestCluster(t *testing.T) {
	skipShort(t)
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			env, stop, restart := b.start(t)
			site := newTestSite(t)
			// certificates live 24 s: due for renewal after 16 s (a third of the lifetime left)
			peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort, Validity: 24 * time.Second})
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
			p := site.policy
			names := make([]string, 20)
			for i := range names {
				names[i] = fmt.Sprintf("n%02d.cluster.test", i)
			}
			start := time.Now()
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
			first := make(map[string]string)
			var mu sync.Mutex
			waitServed(t, ms, p, names, 15*time.Second, func(_ int, n, s string) bool {
				mu.Lock()
				defer mu.Unlock()
				if first[n] == "" {
					first[n] = s
				}
				return first[n] == s // all instances serve the same certificate
			})
			t.Logf("20 names served by 3 instances after %v", time.Since(start))
			if got := peb.Orders(); got != len(names) {
				t.Fatalf("Pebble saw %d orders for %d names on 3 instances, want exactly %d", got, len(names), len(names))
			}

			// renewal: when the certificates come due, one instance renews each; all serve the new one
			waitServed(t, ms, p, names, 25*time.Second, func(_ int, n, s string) bool { return s != first[n] })
			renewed := make(map[string]string)
			waitServed(t, ms, p, names, 5*time.Second, func(_ int, n, s string) bool {
				mu.Lock()
				defer mu.Unlock()
				if renewed[n] == "" {
					renewed[n] = s
				}
				return renewed[n] == s
			})
			if got := peb.Orders(); got != 2*len(names) {
				t.Errorf("after one renewal round Pebble saw %d orders, want %d (one renewal per name, not per instance)", got, 2*len(names))
			}
			if stop == nil {
				return
			}

			// the backend goes away: certificates in memory keep being served, and a new name waits for it
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
			waitServed(t, ms[:1], p, []string{extra}, 20*time.Second, func(int, string, string) bool { return true })
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
