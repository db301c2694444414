package tlsmgr

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/internal/acmetest"
)

func TestOnDemandRestartReusesStoredCertificates(t *testing.T) {
	skipShort(t)
	site := newODSite(t)
	peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort})
	storage := t.TempDir()
	m := site.start(peb, storage, nil)
	if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 3, "")); err != nil {
		t.Fatal(err)
	}
	names := []string{"s0.casket.test", "s1.casket.test", "s2.casket.test"}
	serials := map[string]string{}
	for _, n := range names {
		leaf, err := site.handshake(n, peb.Roots)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		serials[n] = leaf.SerialNumber.String()
	}
	orders := peb.Orders()
	m.Close()

	// a new process: stored certificates load at the first handshake, without an order, and do not count
	// toward max_certs (1 here)
	m2 := site.start(peb, storage, nil)
	if err := m2.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 1, "")); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		leaf, err := site.handshake(n, peb.Roots)
		if err != nil {
			t.Fatalf("%s after restart: %v", n, err)
		}
		if leaf.SerialNumber.String() != serials[n] {
			t.Errorf("%s: serial changed across restart", n)
		}
	}
	if got := peb.Orders(); got != orders {
		t.Errorf("orders after restart = %d, want %d", got, orders)
	}
	if _, err := site.handshake("new.casket.test", peb.Roots); err != nil {
		t.Errorf("first new name after restart under max_certs 1: %v", err)
	}
	if _, err := site.handshake("another.casket.test", peb.Roots); err == nil {
		t.Error("second new name after restart passed max_certs 1")
	}
	m2.Close()

	// the CA gone: still served from storage
	peb.Stop()
	m3 := site.start(peb, storage, nil)
	if err := m3.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 1, "")); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := site.handshake(n, peb.Roots); err != nil {
			t.Errorf("%s with the CA down: %v", n, err)
		}
	}
}

func TestOnDemandRenewal(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name       string
		interval   time.Duration // background maintenance
		handshakes bool
	}{
		{"background maintenance", 300 * time.Millisecond, false},
		{"at handshake time", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := newODSite(t)
			peb := acmetest.Start(t, acmetest.Options{HTTPPort: site.httpPort, TLSPort: site.tlsPort, Validity: 30 * time.Second})
			m := site.start(peb, t.TempDir(), func(o *Options) { o.RenewInterval = tc.interval })
			var renewed atomic.Int32
			m.hook = func(event string, data map[string]any) {
				if event == "cert_obtained" && data["renewal"] == true {
					renewed.Add(1)
				}
			}
			if err := m.EnableOnDemand([]string{"*.casket.test"}, odPolicy(peb, 1, "")); err != nil {
				t.Fatal(err)
			}
			const name = "renew.casket.test"
			first, err := site.handshake(name, peb.Roots)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(40 * time.Second)
			var failures int
			for renewed.Load() == 0 && time.Now().Before(deadline) {
				if tc.handshakes {
					if _, err := site.handshake(name, peb.Roots); err != nil {
						failures++
						t.Logf("handshake: %v", err)
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			if renewed.Load() == 0 {
				t.Fatal("no renewal within 40s")
			}
			if failures > 0 {
				t.Errorf("%d handshakes failed around the renewal", failures)
			}
			var leaf = first
			for time.Now().Before(deadline) && leaf.SerialNumber.Cmp(first.SerialNumber) == 0 {
				time.Sleep(100 * time.Millisecond)
				if leaf, err = site.handshake(name, peb.Roots); err != nil {
					t.Fatal(err)
				}
			}
			if leaf.SerialNumber.Cmp(first.SerialNumber) == 0 {
				t.Error("renewed certificate not served")
			}
			if !time.Now().Before(first.NotAfter) {
				t.Error("renewed only after the old certificate expired")
			}
			// renewals do not use up max_certs (1): the renewal worked although the cap is reached
			if got := m.group(name).count.count(); got != 1 {
				t.Errorf("max_certs count = %d after a renewal, want 1", got)
			}
		})
	}
}
