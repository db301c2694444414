package dnstest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BIND is a running BIND 9 serving Zone.
type BIND struct {
	Addr      string // host:port, UDP and TCP
	KeyName   string // TSIG key allowed to update TXT records and transfer the zone
	Secret    string // its base64 secret
	Algorithm string // hmac-sha256
	Dir       string // the server's folder (config, zone, journal, log)
}

// StartBIND runs named from a fresh temporary folder. The zone has SOA, NS, and A 127.0.0.1 for the apex,
// ns and every other name (a `*` record), and a CNAME from _acme-challenge.delegated to challenges (for
// testing challenge delegation); TXT records may be added and removed with updates signed with the
// returned key, and the zone transferred with it. Unsigned updates are refused.
func StartBIND(t testing.TB) *BIND {
	t.Helper()
	named := need(t, "named", "bind9 bind9-dnsutils")
	dir := t.TempDir()
	b := &BIND{
		Addr:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		KeyName:   "casket-key",
		Secret:    randomSecret(32),
		Algorithm: "hmac-sha256",
		Dir:       dir,
	}
	port := b.Addr[len("127.0.0.1:"):]
	conf := fmt.Sprintf(`key "%[1]s" { algorithm %[2]s; secret "%[3]s"; };
options {
	directory "%[4]s";
	pid-file "%[4]s/named.pid";
	session-keyfile "%[4]s/session.key";
	managed-keys-directory "%[4]s";
	listen-on port %[5]s { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	allow-transfer { key "%[1]s"; };
};
controls { };
zone "%[6]s" {
	type primary;
	file "%[4]s/%[6]s.zone";
	update-policy { grant "%[1]s" zonesub TXT; };
};
`, b.KeyName, b.Algorithm, b.Secret, dir, port, Zone)
	zone := fmt.Sprintf(`$TTL 5
@	IN SOA ns.%[1]s. hostmaster.%[1]s. 1 60 60 3600 5
@	IN NS ns.%[1]s.
@	IN A 127.0.0.1
ns	IN A 127.0.0.1
*	IN A 127.0.0.1
_acme-challenge.delegated	IN CNAME challenges.%[1]s.
`, Zone)
	if err := os.WriteFile(filepath.Join(dir, "named.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, Zone+".zone"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "named", named, "-g", "-c", filepath.Join(dir, "named.conf"), "-n", "1")
	waitReady(t, "named", b.Addr, p)
	return b
}
