//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/casketserver/casket/internal/dnstest"
	"github.com/casketserver/casket/internal/servicetest"
)

// The cluster behind a load balancer, with real network partitions: three casket instances, each in a
// network namespace of its own joined to the host by a veth pair on a test bridge, share one Redis; a
// casket on the host balances requests over them with the proxy directive. One namespace is then cut off
// (its link goes down and it loses the storage, the CA and DNS) while clients keep sending requests.
//
// The instances reach the host's Redis, Pebble and BIND at the same 127.0.0.1 addresses as everyone else:
// the test listens on those addresses inside each namespace and relays to the host (a socket belongs to the
// namespace of the thread that creates it). Cutting an instance off closes its relays too.
//
// It needs root (ip netns, veth, a bridge). Without that it is skipped, unless CASKET_REQUIRE_NETNS=1,
// which .ci/run sets when the machine allows namespaces.

const (
	netnsBridge = "casketbr0"
	netnsPrefix = "casket-e2e-"
	netnsNet    = "10.213.77."
)

// netnsMember is one instance's namespace: its name, address, host-side link and relays.
type netnsMember struct {
	ns, ip, hostLink string
	relays           []*relay
}

// needNetns skips t when namespaces cannot be made here. iproute2 is a package like the other servers the
// tests need, so its absence fails under CASKET_REQUIRE_EXTERNAL=1; the right to make namespaces is the
// machine's, which .ci/run probes and then demands through CASKET_REQUIRE_NETNS=1.
func needNetns(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		msg := "no ip command: install iproute2 to run this test"
		if os.Getenv("CASKET_REQUIRE_EXTERNAL") == "1" || os.Getenv("CASKET_REQUIRE_NETNS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if out, err := exec.Command("ip", "netns", "add", netnsPrefix+"probe").CombinedOutput(); err != nil {
		why = fmt.Sprintf("ip netns add: %v: %s", err, out)
	} else {
		_ = exec.Command("ip", "netns", "del", netnsPrefix+"probe").Run()
		return
	}
	if os.Getenv("CASKET_REQUIRE_NETNS") == "1" {
		t.Fatalf("network namespaces unavailable (%s) and CASKET_REQUIRE_NETNS=1", why)
	}
	t.Skipf("network namespaces unavailable: %s", why)
}

// ipCmd runs ip with args, failing t on error.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// makeNetns creates the bridge and n namespaces linked to it, removed when the test ends.
func makeNetns(t *testing.T, n int) []*netnsMember {
	t.Helper()
	cleanup := func() {
		for i := range n {
			_ = exec.Command("ip", "netns", "del", fmt.Sprintf("%s%d", netnsPrefix, i)).Run()
			_ = exec.Command("ip", "link", "del", fmt.Sprintf("cskveth%d", i)).Run()
		}
		_ = exec.Command("ip", "link", "del", netnsBridge).Run()
	}
	cleanup() // leftovers of an interrupted run
	t.Cleanup(cleanup)
	ipCmd(t, "link", "add", netnsBridge, "type", "bridge")
	ipCmd(t, "addr", "add", netnsNet+"1/24", "dev", netnsBridge)
	ipCmd(t, "link", "set", netnsBridge, "up")
	var ms []*netnsMember
	for i := range n {
		m := &netnsMember{ns: fmt.Sprintf("%s%d", netnsPrefix, i), ip: fmt.Sprintf("%s%d", netnsNet, 11+i),
			hostLink: fmt.Sprintf("cskveth%d", i)}
		peer := fmt.Sprintf("cskpeer%d", i)
		ipCmd(t, "netns", "add", m.ns)
		ipCmd(t, "link", "add", m.hostLink, "type", "veth", "peer", "name", peer)
		ipCmd(t, "link", "set", peer, "netns", m.ns)
		ipCmd(t, "link", "set", m.hostLink, "master", netnsBridge)
		ipCmd(t, "link", "set", m.hostLink, "up")
		ipCmd(t, "-n", m.ns, "addr", "add", m.ip+"/24", "dev", peer)
		ipCmd(t, "-n", m.ns, "link", "set", peer, "up")
		ipCmd(t, "-n", m.ns, "link", "set", "lo", "up")
		ms = append(ms, m)
	}
	return ms
}

// inNetns runs f on a thread switched into namespace ns; sockets f creates belong to ns.
func inNetns(ns string, f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// the thread stays locked, so Go retires it with the goroutine instead of reusing it elsewhere
		return fmt.Errorf("returning from %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// relay forwards TCP (and for DNS also UDP) from addr inside a namespace to addr on the host.
type relay struct {
	addr string
	ln   net.Listener
	pc   net.PacketConn

	mu     sync.Mutex
	conns  []io.Closer
	closed bool
}

// startRelay listens on addr inside ns and forwards to addr on the host; udp adds a datagram relay.
func startRelay(t *testing.T, ns, addr string, udp bool) *relay {
	t.Helper()
	r := &relay{addr: addr}
	err := inNetns(ns, func() error {
		var err error
		if r.ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		if udp {
			r.pc, err = net.ListenPacket("udp", addr)
		}
		return err
	})
	if err != nil {
		t.Fatalf("relay %s in %s: %v", addr, ns, err)
	}
	go r.serveTCP()
	if udp {
		go r.serveUDP()
	}
	t.Cleanup(r.close)
	return r
}

func (r *relay) track(c io.Closer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.conns = append(r.conns, c)
	return true
}

func (r *relay) serveTCP() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			out, err := net.DialTimeout("tcp", r.addr, 2*time.Second) // from the host namespace
			if err != nil {
				in.Close()
				return
			}
			if !r.track(in) || !r.track(out) {
				in.Close()
				out.Close()
				return
			}
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			_, _ = io.Copy(in, out)
			in.Close()
		}()
	}
}

func (r *relay) serveUDP() {
	var mu sync.Mutex
	peers := map[string]net.Conn{}
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		mu.Lock()
		out := peers[from.String()]
		if out == nil {
			if out, err = net.Dial("udp", r.addr); err != nil {
				mu.Unlock()
				continue
			}
			if !r.track(out) {
				mu.Unlock()
				return
			}
			peers[from.String()] = out
			go func() {
				b := make([]byte, 64<<10)
				for {
					n, err := out.Read(b)
					if err != nil {
						return
					}
					_, _ = r.pc.WriteTo(b[:n], from)
				}
			}()
		}
		mu.Unlock()
		_, _ = out.Write(buf[:n])
	}
}

// close stops the relay and cuts every connection through it.
func (r *relay) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	conns := r.conns
	r.mu.Unlock()
	r.ln.Close()
	if r.pc != nil {
		r.pc.Close()
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestE2EClusterNetnsPartition: three instances in namespaces behind a casket load balancer obtain each
// certificate once between them; when one namespace is cut off mid-run, every request through the load
// balancer still succeeds, the cut-off instance keeps running, and once reconnected it serves again.
func TestE2EClusterNetnsPartition(t *testing.T) {
	needBinary(t)
	if testing.Short() {
		t.Skip("network namespaces and real servers; skipped with -short")
	}
	needNetns(t)
	redis := servicetest.StartRedis(t)
	bind := dnstest.StartBIND(t)
	d := newDNSEnv(t, bind.Addr)
	nets := makeNetns(t, 3)
	pebbleAddr := strings.SplitN(d.peb.DirectoryURL, "/", 4)[2] // https://host:port/dir

	all := clusterNames(4)
	names, late := all[:3], all[3] // late is added while an instance is cut off
	site := func(names []string) string {
		return fmt.Sprintf("%s {\n\tstatus 200 /\n\theader / X-Instance {$INSTANCE}\n\ttls {\n\t\tdns rfc2136\n\t\tresolvers %s\n\t\tdns_ttl 5s\n\t}\n}\n",
			strings.Join(names, ", "), bind.Addr)
	}
	confDir := t.TempDir()
	conf := writeConf(t, confDir, site(names))
	creds := bindCreds(t, bind)

	var procs []*proc
	for i, m := range nets {
		for _, a := range []struct {
			addr string
			udp  bool
		}{{redis.Addr, false}, {pebbleAddr, false}, {bind.Addr, true}} {
			m.relays = append(m.relays, startRelay(t, m.ns, a.addr, a.udp))
		}
		dir := t.TempDir()
		e := env{"CASKETPATH": filepath.Join(dir, "casketpath"), "SSL_CERT_FILE": d.peb.DirectoryRootFile,
			"CASKET_CLUSTERING": "redis", "CASKET_CLUSTERING_REDIS_HOST": redis.Host,
			"CASKET_CLUSTERING_REDIS_PORT": fmt.Sprint(redis.Port), "INSTANCE": fmt.Sprintf("ns%d", i)}
		for k, v := range creds {
			e[k] = v
		}
		p := newProc(t, e, "-conf", conf, "-ca", d.peb.DirectoryURL, "-http-port", "8080", "-https-port", "8443",
			"-default-sni", names[0], "-email", "ops@casket.test", "-agree", "-log", "stderr", "-catimeout", "20s")
		p.cmd.Args = append([]string{"ip", "netns", "exec", m.ns, casketBin}, p.cmd.Args[1:]...)
		p.cmd.Path, _ = exec.LookPath("ip")
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.start()
	}
	for _, p := range procs {
		p.waitBanner()
	}

	// every instance serves every name with the same certificate, obtained once for the cluster
	serials := map[string]string{}
	for i, m := range nets {
		for _, n := range names {
			leaf := waitCertAt(t, n, net.JoinHostPort(m.ip, "8443"), d.peb.Roots, 90*time.Second)
			if want, ok := serials[n]; ok && leaf.SerialNumber.String() != want {
				t.Errorf("ns%d serves %s with serial %s, another instance with %s", i, n, leaf.SerialNumber, want)
			}
			serials[n] = leaf.SerialNumber.String()
		}
	}
	if got := d.peb.Orders(); got != len(names) {
		t.Errorf("pebble got %d orders from 3 instances in namespaces, want %d", got, len(names))
	}

	// The balancer opens a connection per request (keepalive 0): a request sent on an idle kept-alive
	// connection into a silently dropped link would wait for TCP to give up, not for the connect timeout.
	lbPort := freePort(t)
	var ups []string
	for _, m := range nets {
		ups = append(ups, "https://"+net.JoinHostPort(m.ip, "8443"))
	}
	lbConf := writeConf(t, t.TempDir(), fmt.Sprintf(`http://:%s {
	bind 127.0.0.1
	proxy / %s {
		policy round_robin
		transparent
		insecure_skip_verify
		timeout 1s
		keepalive 0
		fail_timeout 5s
		max_fails 1
		try_duration 5s
		try_interval 50ms
	}
}
`, lbPort, strings.Join(ups, " ")))
	startCasket(t, env{"CASKETPATH": filepath.Join(t.TempDir(), "lb")}, "127.0.0.1:"+lbPort, "-conf", lbConf)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() (string, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+lbPort+"/", nil)
		req.Host = names[0]
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("status %d", resp.StatusCode)
		}
		return resp.Header.Get("X-Instance"), nil
	}
	seen := func(n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			inst, err := get()
			if err != nil {
				t.Fatalf("request through the load balancer: %v", err)
			}
			got[inst]++
		}
		return got
	}
	// every request succeeds; all three instances answer (a busy machine may briefly sideline one after a
	// slow dial, so they get a few rounds to show up)
	reached := map[string]int{}
	for round := 0; len(reached) < 3; round++ {
		if round == 20 {
			t.Fatalf("before the cut, requests reached %v; want all three instances", reached)
		}
		for inst, n := range seen(6) {
			reached[inst] += n
		}
	}

	// cut ns1 off: its link goes down and it loses the storage, the CA and DNS
	cut := nets[1]
	ipCmd(t, "link", "set", cut.hostLink, "down")
	for _, r := range cut.relays {
		r.close()
	}
	cutAt := time.Now()
	got := seen(30)
	if got["ns1"] > 0 {
		t.Errorf("after the cut, %d requests were answered by the cut-off instance", got["ns1"])
	}
	t.Logf("after the cut, 30 requests through the load balancer reached %v", got)
	// the others go on obtaining certificates: a name added to them now is obtained once and served by both
	writeConf(t, confDir, site(all))
	for _, i := range []int{0, 2} {
		procs[i].signal(syscall.SIGUSR1)
	}
	var lateSerial string
	for _, i := range []int{0, 2} {
		leaf := waitCertAt(t, late, net.JoinHostPort(nets[i].ip, "8443"), d.peb.Roots, 60*time.Second)
		if lateSerial != "" && leaf.SerialNumber.String() != lateSerial {
			t.Errorf("ns%d serves %s with another certificate than ns0", i, late)
		}
		lateSerial = leaf.SerialNumber.String()
	}
	// past the lock lease time, the cut-off instance is still running (storage errors do not stop it)
	time.Sleep(time.Until(cutAt.Add(12 * time.Second)))
	if procs[1].exited() {
		t.Fatalf("the cut-off instance exited: %v", procs[1].err)
	}
	seen(6)

	// reconnect: the instance serves again through the load balancer
	ipCmd(t, "link", "set", cut.hostLink, "up")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if seen(3)["ns1"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reconnected instance did not serve again through the load balancer within 30s")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := d.peb.Orders(); got != len(all) {
		t.Errorf("pebble got %d orders in all, want %d", got, len(all))
	}
}
