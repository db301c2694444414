package accesslog

import (
	"fmt"
	"io"
	"log/syslog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/casketserver/casket/casketfile"
)

// Rotation controls how a log file is rotated (with lumberjack). The zero value is not the default; use
// DefaultRotation.
type Rotation struct {
	Disabled   bool // rotate_disable: append to the file forever
	MaxSizeMB  int  // rotate_size: rotate when the file reaches this many megabytes
	MaxAgeDays int  // rotate_age: delete rotated files older than this many days
	MaxBackups int  // rotate_keep: keep at most this many rotated files
	Compress   bool // rotate_compress: gzip rotated files
}

// DefaultRotation is Casket's rotation: 100 MB files, kept 14 days, at most 10 of them, uncompressed.
func DefaultRotation() Rotation {
	return Rotation{MaxSizeMB: 100, MaxAgeDays: 14, MaxBackups: 10}
}

// ParseSubdirective handles a rotate_* subdirective at the dispenser's cursor. It reports false, without
// moving the cursor, when the current token is not one.
func (rot *Rotation) ParseSubdirective(d *casketfile.Dispenser) (bool, error) {
	name := d.Val()
	var target *int
	switch name {
	case "rotate_size":
		target = &rot.MaxSizeMB
	case "rotate_age":
		target = &rot.MaxAgeDays
	case "rotate_keep":
		target = &rot.MaxBackups
	case "rotate_compress", "rotate_disable":
		if d.NextArg() {
			return true, d.Errf("%s takes no arguments", name)
		}
		if name == "rotate_compress" {
			rot.Compress = true
		} else {
			rot.Disabled = true
		}
		return true, nil
	default:
		return false, nil
	}
	var v string
	if !d.AllArgs(&v) {
		return true, d.Errf("%s: expected one number", name)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return true, d.Errf("%s: %q is not a non-negative whole number", name, v)
	}
	*target = n
	return true, nil
}

// ValidateDestination checks a destination without opening it: "stdout", "stderr", "syslog",
// "syslog://host:port", "syslog+udp://host:port", "syslog+tcp://host:port", or a file path.
func ValidateDestination(dest string) error {
	if dest == "" {
		return fmt.Errorf("empty log destination")
	}
	_, _, err := parseSyslog(dest)
	return err
}

// parseSyslog splits a syslog destination into network and address ("", "" for the local daemon and for
// destinations that are not syslog).
func parseSyslog(dest string) (network, addr string, err error) {
	if dest == "syslog" || !isSyslog(dest) {
		return "", "", nil
	}
	u, err := url.Parse(dest)
	if err != nil || u.Host == "" || u.Port() == "" {
		return "", "", fmt.Errorf("invalid syslog destination %q (use syslog, syslog://host:port, syslog+udp://host:port or syslog+tcp://host:port)", dest)
	}
	switch u.Scheme {
	case "syslog", "syslog+udp":
		return "udp", u.Host, nil
	case "syslog+tcp":
		return "tcp", u.Host, nil
	}
	return "", "", fmt.Errorf("invalid syslog scheme %q (use syslog, syslog+udp or syslog+tcp)", u.Scheme)
}

func isSyslog(dest string) bool {
	return dest == "syslog" || strings.HasPrefix(dest, "syslog://") || strings.HasPrefix(dest, "syslog+")
}

// The registry of open destinations is process-wide on purpose: during a graceful reload the old and the
// new configuration run side by side, and both must write a given file through the same writer, or two
// lumberjack loggers would rotate the same file behind each other's backs. Entries are reference-counted:
// OpenDestination adds a reference, the returned writer's Close drops it, and the last Close closes the
// file. It holds no configuration, only open files, so it cannot leak settings between configurations.
var registry = struct {
	sync.Mutex
	open map[string]*shared
}{open: map[string]*shared{}}

// shared is one open destination used by every handler writing to it.
type shared struct {
	key  string
	mu   sync.Mutex // serializes writes and swaps of w
	w    io.WriteCloser
	rot  Rotation
	refs int
}

func (s *shared) write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// handle is one reference to a shared destination.
type handle struct {
	s    *shared
	once sync.Once
}

// Write writes p with a single call to the destination; callers pass whole lines.
func (h *handle) Write(p []byte) (int, error) { return h.s.write(p) }

// Close drops this reference; the destination is closed when no reference is left.
func (h *handle) Close() error {
	var err error
	h.once.Do(func() { err = release(h.s) })
	return err
}

// OpenDestination opens (or shares) a log destination. Files are created with their directory if needed
// and rotated as rot says; a relative path is relative to the working directory. When the file is
// already open with other rotation settings, the new settings replace the old ones for every user.
func OpenDestination(dest string, rot Rotation) (io.WriteCloser, error) {
	if err := ValidateDestination(dest); err != nil {
		return nil, err
	}
	key := dest
	if dest != "stdout" && dest != "stderr" && !isSyslog(dest) {
		abs, err := filepath.Abs(dest)
		if err != nil {
			return nil, fmt.Errorf("opening log file %s: %w", dest, err)
		}
		key = abs
	}
	registry.Lock()
	defer registry.Unlock()
	if s, ok := registry.open[key]; ok {
		if s.rot != rot && !isSyslog(dest) && key != "stdout" && key != "stderr" {
			w, err := openRaw(key, rot)
			if err != nil {
				return nil, err
			}
			s.mu.Lock()
			old := s.w
			s.w, s.rot = w, rot
			s.mu.Unlock()
			_ = old.Close()
		}
		s.refs++
		return &handle{s: s}, nil
	}
	w, err := openRaw(key, rot)
	if err != nil {
		return nil, err
	}
	s := &shared{key: key, w: w, rot: rot, refs: 1}
	registry.open[key] = s
	return &handle{s: s}, nil
}

func release(s *shared) error {
	registry.Lock()
	defer registry.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	delete(registry.open, s.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Close()
}

// nopCloser keeps the standard streams open.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func openRaw(key string, rot Rotation) (io.WriteCloser, error) {
	switch {
	case key == "stdout":
		return nopCloser{os.Stdout}, nil
	case key == "stderr":
		return nopCloser{os.Stderr}, nil
	case isSyslog(key):
		network, addr, err := parseSyslog(key)
		if err != nil {
			return nil, err
		}
		w, err := syslog.Dial(network, addr, syslog.LOG_INFO|syslog.LOG_DAEMON, "casket")
		if err != nil {
			return nil, fmt.Errorf("connecting to syslog %s: %w", key, err)
		}
		return w, nil
	}
	if err := os.MkdirAll(filepath.Dir(key), 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	f, err := os.OpenFile(key, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	if rot.Disabled {
		return f, nil
	}
	_ = f.Close() // the file is writable; lumberjack reopens it on the first write
	return &lumberjack.Logger{
		Filename:   key,
		MaxSize:    rot.MaxSizeMB,
		MaxAge:     rot.MaxAgeDays,
		MaxBackups: rot.MaxBackups,
		Compress:   rot.Compress,
		LocalTime:  true,
	}, nil
}
