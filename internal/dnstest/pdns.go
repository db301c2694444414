package dnstest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PowerDNS is a running PowerDNS Authoritative Server (sqlite3 backend) serving Zone.
type PowerDNS struct {
	Addr     string // DNS host:port, UDP and TCP
	APIURL   string // the HTTP API base, e.g. http://127.0.0.1:8081 (append /api/v1/...)
	APIKey   string // X-API-Key
	ServerID string // "localhost"
	Dir      string
	// KeyName and Secret are a TSIG key (hmac-sha256) allowed to send RFC 2136 updates to the zone and
	// to transfer it.
	KeyName, Secret string
}

// StartPowerDNS runs pdns_server from a fresh temporary folder with its HTTP API on a loopback port and
// all caches off and RFC 2136 updates on, and creates Zone through the API, with A 127.0.0.1 for the
// apex, ns and every other name, and a TSIG key allowed to update and transfer it.
func StartPowerDNS(t testing.TB) *PowerDNS {
	t.Helper()
	bin := need(t, "pdns_server", "pdns-server pdns-backend-sqlite3 sqlite3")
	sqlite := need(t, "sqlite3", "sqlite3")
	schema := "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
	if _, err := os.Stat(schema); err != nil {
		need(t, "pdns-sqlite3-schema-missing", "pdns-backend-sqlite3")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "pdns.db")
	cmd := exec.Command(sqlite, db, ".read "+schema)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("creating the PowerDNS database: %v\n%s", err, out)
	}
	p := &PowerDNS{
		Addr:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		APIKey:   randomSecret(18),
		ServerID: "localhost",
		Dir:      dir,
		KeyName:  "casket-key",
		Secret:   randomSecret(32),
	}
	webPort := freePort(t)
	p.APIURL = fmt.Sprintf("http://127.0.0.1:%d", webPort)
	proc := startProcess(t, "pdns_server", bin,
		"--no-config", "--daemon=no", "--guardian=no", "--disable-syslog", "--write-pid=no",
		"--socket-dir="+dir, "--security-poll-suffix=",
		"--local-address=127.0.0.1", "--local-port="+p.Addr[len("127.0.0.1:"):],
		"--launch=gsqlite3", "--gsqlite3-database="+db,
		"--api=yes", "--api-key="+p.APIKey,
		"--webserver=yes", "--webserver-address=127.0.0.1", fmt.Sprintf("--webserver-port=%d", webPort),
		"--webserver-allow-from=127.0.0.0/8",
		"--cache-ttl=0", "--negquery-cache-ttl=0", "--query-cache-ttl=0",
		"--dnsupdate=yes", "--allow-dnsupdate-from=127.0.0.0/8", "--disable-axfr=no", "--allow-axfr-ips=127.0.0.0/8")
	zone := fmt.Sprintf(`{"name":"%[1]s.","kind":"Native","nameservers":["ns.%[1]s."],"rrsets":[
		{"name":"%[1]s.","type":"A","ttl":5,"changetype":"REPLACE","records":[{"content":"127.0.0.1","disabled":false}]},
		{"name":"*.%[1]s.","type":"A","ttl":5,"changetype":"REPLACE","records":[{"content":"127.0.0.1","disabled":false}]},
		{"name":"ns.%[1]s.","type":"A","ttl":5,"changetype":"REPLACE","records":[{"content":"127.0.0.1","disabled":false}]}]}`, Zone)
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, p.APIURL+"/api/v1/servers/localhost/zones", bytes.NewBufferString(zone))
		req.Header.Set("X-API-Key", p.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				break
			}
			t.Fatalf("creating zone %s in PowerDNS: %s: %s", Zone, resp.Status, body)
		}
		if proc.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("PowerDNS API did not start: %v\n%s", err, proc.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.api(t, http.MethodPost, "/api/v1/servers/localhost/tsigkeys",
		fmt.Sprintf(`{"name":%q,"algorithm":"hmac-sha256","key":%q}`, p.KeyName, p.Secret), http.StatusCreated)
	p.api(t, http.MethodPut, "/api/v1/servers/localhost/zones/"+Zone+"./metadata/TSIG-ALLOW-DNSUPDATE",
		fmt.Sprintf(`{"metadata":[%q]}`, p.KeyName), http.StatusOK)
	// master_tsig_key_ids is the API's spelling of TSIG-ALLOW-AXFR
	p.api(t, http.MethodPut, "/api/v1/servers/localhost/zones/"+Zone+".",
		fmt.Sprintf(`{"master_tsig_key_ids":[%q]}`, p.KeyName+"."), http.StatusNoContent)
	waitReady(t, "pdns_server", p.Addr, proc)
	return p
}

// api sends one request to the PowerDNS API and fails the test on an unexpected status.
func (p *PowerDNS) api(t testing.TB, method, path, body string, want int) {
	t.Helper()
	req, _ := http.NewRequest(method, p.APIURL+path, bytes.NewBufferString(body))
	req.Header.Set("X-API-Key", p.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PowerDNS API %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("PowerDNS API %s %s: %s: %s", method, path, resp.Status, data)
	}
}
