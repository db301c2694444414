package on

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Hooks runs the commands of the `on` directives of the running configurations. The process creates one
// with NewHooks and keeps it across reloads.
type Hooks struct {
	log *zap.Logger

	mu   sync.Mutex
	regs []*Handler // shutdown and certrenew handlers, in provisioning (Casketfile) order
}

// NewHooks returns an empty set of hooks logging command output and failures to log (nil discards).
func NewHooks(log *zap.Logger) *Hooks {
	if log == nil {
		log = zap.NewNop()
	}
	return &Hooks{log: log}
}

// scope is one Instance.Start: it collects the startup commands, each place of the Casketfile once even
// when it serves several sites, until Started runs them.
type scope struct {
	hooks *Hooks
	mu    sync.Mutex
	seen  map[string]bool
	queue []Command
}

type ctxKey struct{}

// Context returns ctx carrying the hooks for one Instance.Start; call it for each start (the first one
// and every reload) and pass the result to Instance.Start, then to Started once the start succeeded.
func (h *Hooks) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, &scope{hooks: h, seen: make(map[string]bool)})
}

// Started runs the `on startup` commands of the configuration that was just started with ctx (from
// Context), in Casketfile order, now that it is serving. Call it only when Instance.Start succeeded: a
// configuration that failed to start (a rejected reload) runs nothing. Failures are logged and returned;
// they should not stop the server.
func (h *Hooks) Started(ctx context.Context) error {
	sc := scopeFrom(ctx)
	if sc == nil {
		return nil
	}
	sc.mu.Lock()
	queue := sc.queue
	sc.queue = nil
	sc.mu.Unlock()
	var errs []error
	for _, c := range queue {
		errs = append(errs, h.run(ctx, c, nil))
	}
	return errors.Join(errs...)
}

func scopeFrom(ctx context.Context) *scope {
	s, _ := ctx.Value(ctxKey{}).(*scope)
	return s
}

// add queues a startup command, unless its place of the Casketfile was already queued in this start.
func (s *scope) add(c Command) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := c.Where + " " + c.String()
	if !s.seen[key] {
		s.seen[key] = true
		s.queue = append(s.queue, c)
	}
}

func (h *Hooks) register(hd *Handler) {
	h.mu.Lock()
	h.regs = append(h.regs, hd)
	h.mu.Unlock()
}

func (h *Hooks) unregister(hd *Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, r := range h.regs {
		if r == hd {
			h.regs = append(h.regs[:i:i], h.regs[i+1:]...)
			return
		}
	}
}

// commands returns the registered commands for event, each place of the Casketfile once (several sites
// of a block, or the old and new configuration during a reload, register the same one).
func (h *Hooks) commands(event string) []Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool)
	var out []Command
	for _, r := range h.regs {
		c := r.Command
		key := c.Where + " " + c.String()
		if c.Event != event || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, c)
	}
	return out
}

// Shutdown runs the `on shutdown` commands; call it once when the process is about to exit (not on
// reloads), before stopping the server. It returns the errors of the commands it waited for.
func (h *Hooks) Shutdown(ctx context.Context) error {
	var errs []error
	for _, c := range h.commands(Shutdown) {
		errs = append(errs, h.run(ctx, c, nil))
	}
	return errors.Join(errs...)
}

// CertRenewed runs the `on certrenew` commands after the certificate for name was renewed; {cert_name}
// in their arguments is name. The TLS manager calls it from its renewal goroutine.
func (h *Hooks) CertRenewed(ctx context.Context, name string) error {
	var errs []error
	for _, c := range h.commands(CertRenew) {
		errs = append(errs, h.run(ctx, c, map[string]string{"cert_name": name}))
	}
	return errors.Join(errs...)
}

// waitDelay bounds how long a finished command's output is read when a child it left behind keeps the
// pipes open.
const waitDelay = 2 * time.Second

// run starts c with its placeholders expanded, logging its output line by line. It waits for the
// command unless it runs in the background; then only a failure to start is returned.
func (h *Hooks) run(ctx context.Context, c Command, vars map[string]string) error {
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = expand(a, c.Event, vars)
	}
	name := expand(c.Name, c.Event, vars)
	log := h.log.With(zap.String("event", c.Event), zap.String("command", c.String()))
	var cmd *exec.Cmd
	if c.Background {
		cmd = exec.Command(name, args...) // outlives the start or stop that launched it
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	out := &lineLogger{log: log}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = waitDelay
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Error("on: command did not start", zap.Error(err))
		return fmt.Errorf("on %s: starting %s: %w", c.Event, name, err)
	}
	wait := func() error {
		err := cmd.Wait()
		out.flush()
		if err != nil {
			log.Error("on: command failed", zap.Error(err), zap.Duration("took", time.Since(start)))
			return fmt.Errorf("on %s: %s: %w", c.Event, name, err)
		}
		log.Info("on: command done", zap.Duration("took", time.Since(start)))
		return nil
	}
	if c.Background {
		log.Info("on: command started in the background", zap.Int("pid", cmd.Process.Pid))
		go func() { _ = wait() }()
		return nil
	}
	return wait()
}

// expand replaces {$VAR}, {$VAR=default}, {event} and the given vars ({cert_name}) in s. Unknown
// placeholders are left as written.
func expand(s, event string, vars map[string]string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		ph := s[i+1 : i+j]
		if v, ok := lookup(ph, event, vars); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+j+1])
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

func lookup(ph, event string, vars map[string]string) (string, bool) {
	if env, ok := strings.CutPrefix(ph, "$"); ok && env != "" {
		name, def, hasDef := strings.Cut(env, "=")
		if v, set := os.LookupEnv(name); set && (v != "" || !hasDef) {
			return v, true
		}
		return def, true
	}
	if ph == "event" {
		return event, true
	}
	v, ok := vars[ph]
	return v, ok
}

// lineLogger logs what a command writes, one entry per line.
type lineLogger struct {
	log *zap.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info("on: output", zap.String("line", string(bytes.TrimRight(l.buf[:i], "\r"))))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a very long line without newline: log it in pieces
		l.log.Info("on: output", zap.String("line", string(l.buf)))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.log.Info("on: output", zap.String("line", string(l.buf)))
		l.buf = nil
	}
}
