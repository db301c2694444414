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
}

// StartPowerDNS runs pdns_server from a fresh temporary folder with its HTTP API on a loopback port and
// all caches off, and creates Zone through the API, with A 127.0.0.1 for the apex, ns and every other
// name.
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
		"--cache-ttl=0", "--negquery-cache-ttl=0", "--query-cache-ttl=0")
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
	waitReady(t, "pdns_server", p.Addr, proc)
	return p
}
