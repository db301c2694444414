package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/metrics"
)

// Zero-downtime binary upgrade (SIGUSR2): the running process starts the binary found at its own path
// (os.Args[0], which a package upgrade has replaced) with the same arguments, handing it its listening
// sockets. The new process reads the Casketfile again, adopts the sockets instead of binding them and,
// once it serves, reports success on a pipe; the old process then stops accepting, drains and exits 0.
// If the new process fails or says nothing within upgradeTimeout, the old one keeps serving.
//
// The handover protocol between the two processes: CASKET__UPGRADE=1, CASKET__UPGRADE_ADDRS holding the
// listener addresses separated by commas (a "metrics=" prefix marks the socket of a `prometheus`
// endpoint), file descriptor 3 the status pipe (the new process writes "ok\n") and descriptors 4, 5, ...
// the sockets, in the order of the addresses.
const (
	envUpgrade      = "CASKET__UPGRADE"
	envUpgradeAddrs = "CASKET__UPGRADE_ADDRS"
	upgradeReady    = "ok\n"
)

// upgradeTimeout is how long the old process waits for the new one to report that it serves.
const upgradeTimeout = 30 * time.Second

// upgrade is a USR2 upgrade in progress.
type upgrade struct {
	pid  int
	proc *os.Process
	done chan error // receives the outcome once: nil when the new process serves
}

// abortUpgrade kills the new process of an upgrade still in progress: the process is stopping, and the
// service with it.
func (s *server) abortUpgrade() {
	if s.upgrade == nil {
		return
	}
	s.logger.Warn("stopping during an upgrade; killing the new process", zap.Int("new_pid", s.upgrade.pid))
	_ = s.upgrade.proc.Kill()
	<-s.upgrade.done
	s.upgrade = nil
}

// upgradeDone returns the channel reporting the outcome of the upgrade in progress; nil (blocks forever)
// when there is none.
func (s *server) upgradeDone() <-chan error {
	if s.upgrade == nil {
		return nil
	}
	return s.upgrade.done
}

// startUpgrade starts the new process of a USR2 upgrade. Errors are logged; this process keeps serving.
func (s *server) startUpgrade() {
	if s.upgrade != nil {
		s.logger.Warn("SIGUSR2: an upgrade is already in progress", zap.Int("new_pid", s.upgrade.pid))
		return
	}
	if s.first.Reusable {
		s.upgradeFailed(errors.New("the Casketfile came from stdin, which the new process cannot read again"))
		return
	}
	s.logger.Info("SIGUSR2: upgrading; starting the new binary")
	u, err := spawnSuccessor(s.handedOver())
	if err != nil {
		s.upgradeFailed(err)
		return
	}
	s.upgrade = u
}

// upgradeFinished records the outcome of the upgrade and reports whether this process should hand over.
func (s *server) upgradeFinished(err error) bool {
	pid := s.upgrade.pid
	s.upgrade = nil
	if err != nil {
		s.upgradeFailed(err)
		return false
	}
	s.logger.Info("upgrade: the new process serves; draining and exiting", zap.Int("new_pid", pid))
	// Under systemd, the new process becomes the service's main process (needs NotifyAccess=main or all),
	// so this one exiting does not stop the service.
	if err := sdNotify(os.Getenv("NOTIFY_SOCKET"), fmt.Sprintf("MAINPID=%d", pid)); err != nil {
		s.logger.Warn("upgrade: telling systemd the new main pid", zap.Error(err))
	}
	return true
}

// upgradeFailed reports a failed upgrade on the process log and on stderr.
func (s *server) upgradeFailed(err error) {
	s.logger.Error("upgrade failed; this process keeps serving", zap.Error(err))
	fmt.Fprintf(s.stderr, "casket: upgrade failed; this process keeps serving: %v\n", err)
}

// handOver stops this process after a successful upgrade: it stops accepting (the new process accepts on
// the same sockets) and drains its connections. `on shutdown` commands do not run: the service goes on.
func (s *server) handOver(sigs <-chan os.Signal) int {
	// HTTP/3 sockets are not drained but closed at once: the new process reads them too, and two readers
	// would split each QUIC connection's packets
	if err := s.pool.CloseQUIC(); err != nil {
		s.logger.Warn("closing HTTP/3 sockets after the upgrade", zap.Error(err))
	}
	if code := s.stop(sigs); code != exitOK {
		return code
	}
	return exitOK
}

// metricsPrefix marks a metrics endpoint's socket in envUpgradeAddrs, udpPrefix an HTTP/3 socket.
const (
	metricsPrefix = "metrics="
	udpPrefix     = "udp="
)

// fileSocket is a socket that can be duplicated for a child process.
type fileSocket interface{ File() (*os.File, error) }

// handedOver lists the sockets a successor inherits: the live instance's listeners and the metrics
// endpoints, by handover address (metricsPrefix for the latter).
func (s *server) handedOver() ([]string, map[string]any) {
	lns := make(map[string]any)
	var addrs []string
	for _, addr := range s.in.Addresses() {
		if ln, ok := s.pool.Listener(addr); ok {
			addrs = append(addrs, addr)
			lns[addr] = ln
		}
		if pc, ok := s.pool.PacketConn(addr); ok {
			addrs = append(addrs, udpPrefix+addr)
			lns[udpPrefix+addr] = pc
		}
	}
	for addr, ln := range s.metrics.Listeners() {
		addrs = append(addrs, metricsPrefix+addr)
		lns[metricsPrefix+addr] = ln
	}
	return addrs, lns
}

// spawnSuccessor starts the new process with the sockets lns (in the order of addrs) and watches its
// status pipe.
func spawnSuccessor(addrs []string, lns map[string]any) (*upgrade, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, addr := range addrs {
		ln := lns[addr]
		fl, ok := ln.(fileSocket)
		if !ok {
			return nil, fmt.Errorf("listener for %s cannot be handed over (%T)", addr, ln)
		}
		f, err := fl.File()
		if err != nil {
			return nil, fmt.Errorf("handing over %s: %w", addr, err)
		}
		files = append(files, f)
	}
	path, err := successorPath()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating status pipe: %w", err)
	}
	defer w.Close()
	cmd := exec.Command(path, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(upgradeEnviron(os.Environ()), envUpgrade+"=1", envUpgradeAddrs+"="+strings.Join(addrs, ","))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append([]*os.File{w}, files...)
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	u := &upgrade{pid: cmd.Process.Pid, proc: cmd.Process, done: make(chan error, 1)}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	go func() {
		defer r.Close()
		u.done <- awaitReady(r, exited, cmd.Process, upgradeTimeout)
	}()
	return u, nil
}

// awaitReady waits for the new process to write upgradeReady on r. It fails when the pipe closes
// without it (the process exited) or after timeout, in which case the process is killed.
func awaitReady(r *os.File, exited <-chan error, p *os.Process, timeout time.Duration) error {
	_ = r.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, len(upgradeReady))
	_, err := io.ReadFull(r, buf)
	if err == nil && string(buf) == upgradeReady {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		_ = p.Kill()
		<-exited
		return fmt.Errorf("the new process (pid %d) did not report serving within %v; it was killed", p.Pid, timeout)
	}
	select {
	case werr := <-exited:
		if werr == nil {
			werr = errors.New("it exited without serving")
		}
		return fmt.Errorf("the new process (pid %d) failed to start: %v", p.Pid, werr)
	case <-time.After(timeout):
		_ = p.Kill()
		return fmt.Errorf("the new process (pid %d) closed its status pipe without serving; it was killed", p.Pid)
	}
}

// successorPath is the binary to start: os.Args[0] looked up as the shell would, so an upgraded binary
// installed at the same path is the one that runs; the running executable if that fails.
func successorPath() (string, error) {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		return p, nil
	}
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the casket binary: %w", err)
	}
	return p, nil
}

// upgradeEnviron drops the handover variables of an earlier upgrade from env.
func upgradeEnviron(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, envUpgrade+"=") || strings.HasPrefix(kv, envUpgradeAddrs+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// inheritance is the new process's side of an upgrade: where it reports that it serves.
type inheritance struct{ status *os.File }

// adoptInherited hands the sockets inherited from an upgrading parent to pool and, for the metrics
// endpoints, to reg; it returns nil when the process was not started by an upgrade.
func adoptInherited(pool *httpserver.ListenerPool, reg *metrics.Registry) (*inheritance, error) {
	if os.Getenv(envUpgrade) != "1" {
		return nil, nil
	}
	addrs := strings.Split(os.Getenv(envUpgradeAddrs), ",")
	os.Unsetenv(envUpgrade)
	os.Unsetenv(envUpgradeAddrs)
	closeOnExec(3) // commands run by `on` must not hold the status pipe
	in := &inheritance{status: os.NewFile(3, "upgrade status")}
	for i, addr := range addrs {
		if addr == "" {
			continue
		}
		f := os.NewFile(uintptr(4+i), "listener "+addr)
		if udp, ok := strings.CutPrefix(addr, udpPrefix); ok {
			pc, err := net.FilePacketConn(f) // a close-on-exec duplicate
			f.Close()
			if err == nil {
				err = pool.AdoptPacket(udp, pc)
			}
			if err != nil {
				return nil, fmt.Errorf("adopting inherited UDP socket %s: %w", udp, err)
			}
			continue
		}
		ln, err := net.FileListener(f) // a close-on-exec duplicate
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("adopting inherited listener %s: %w", addr, err)
		}
		if m, ok := strings.CutPrefix(addr, metricsPrefix); ok {
			reg.Inherit(m, ln)
			continue
		}
		if err := pool.Adopt(addr, ln); err != nil {
			ln.Close()
			return nil, fmt.Errorf("adopting inherited listener %s: %w", addr, err)
		}
	}
	return in, nil
}

// ready tells the parent that this process serves, so the parent drains and exits.
func (in *inheritance) ready(logger *zap.Logger) {
	if in == nil {
		return
	}
	if _, err := in.status.WriteString(upgradeReady); err != nil {
		logger.Warn("reporting upgrade success to the previous process", zap.Error(err))
	}
	in.status.Close()
	logger.Info("upgrade: serving on the sockets of the previous process", zap.Int("parent_pid", os.Getppid()))
}
