// Command casket is the Casket web server: it reads a Casketfile, builds the sites it describes and serves
// them, reloading on SIGUSR1 and draining gracefully on SIGTERM/SIGINT.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/casketserver/casket/dnsproviders"
	"github.com/casketserver/casket/httpserver/directives"
	"github.com/casketserver/casket/internal/version"
	"github.com/casketserver/casket/tlsmgr"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes of features.md §1.4.
const (
	exitOK        = 0
	exitStartup   = 1 // any error before the server finished starting
	exitForceQuit = 2 // second SIGINT while shutting down; also usage errors, as with Go's flag package
	exitStop      = 3 // stopping after SIGTERM failed
	exitCallbacks = 4 // an `on shutdown` command failed (the server itself stopped cleanly)
)

// run is the whole program: it parses args, loads and builds the configuration and serves until a signal
// or ctx ends it. It returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitForceQuit
	}

	if c.EnvFile != "" {
		if err := loadEnvFile(c.EnvFile, os.Setenv); err != nil {
			fmt.Fprintf(stderr, "casket: %v\n", err)
			return exitStartup
		}
	}
	if c.Env {
		for _, kv := range os.Environ() {
			fmt.Fprintln(stdout, kv)
		}
	}
	if c.Version {
		fmt.Fprintln(stdout, version.Get())
		return exitOK
	}
	if c.Plugins {
		printPlugins(stdout)
		return exitOK
	}
	if err := checkUnavailable(c); err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	procs, err := parseCPU(c.CPU, runtime.NumCPU())
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	runtime.GOMAXPROCS(procs)

	var stdinFile *os.File
	if f, ok := stdin.(*os.File); ok {
		stdinFile = f
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	ld := &loader{c: c, stdin: stdin, stdinIsPipe: isPipe(stdinFile) || (stdin != nil && stdinFile == nil), dir: wd}

	if c.Fmt {
		return runFmt(ld, stdout, stderr)
	}

	logger, closeLog, err := newLogger(c, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	defer func() {
		_ = logger.Sync()
		_ = closeLog.Close()
	}()

	store := newCertStorage()
	defer store.close(logger)
	if c.Revoke != "" {
		return runRevoke(c, store, logger, stdout, stderr)
	}
	if c.Certs {
		return runCerts(c, store, logger, stdout, stderr, time.Now())
	}

	src, err := ld.load()
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	if c.Check {
		in, _, err := build(c, src, logger, stderr)
		if err != nil {
			printErrors(stderr, err)
			return exitStartup
		}
		return runCheck(newChecker(c), in, stdout)
	}
	if c.Validate {
		if _, _, err := build(c, src, logger, stderr); err != nil {
			printErrors(stderr, err)
			return exitStartup
		}
		fmt.Fprintln(stdout, "Casketfile is valid")
		return exitOK
	}
	return serve(ctx, c, ld, src, logger, stdout, stderr, store)
}

// checkUnavailable rejects flags whose feature has not been built yet, rather than ignoring them.
func checkUnavailable(c *config) error {
	switch {
	case c.Type != "http":
		return fmt.Errorf("unknown server type %q: only \"http\" is built", c.Type)
	}
	return nil
}

// parseCPU turns the -cpu value ("4" or "50%") into a GOMAXPROCS value, clamped to [1, numCPU].
func parseCPU(v string, numCPU int) (int, error) {
	var n int
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, err := strconv.ParseFloat(pct, 64)
		if err != nil || p < 1 || p > 100 {
			return 0, fmt.Errorf("invalid -cpu %q: percentage must be between 1%% and 100%%", v)
		}
		n = int(p / 100 * float64(numCPU))
	} else {
		i, err := strconv.Atoi(v)
		if err != nil || i < 1 {
			return 0, fmt.Errorf("invalid -cpu %q: want a positive number of cores or a percentage", v)
		}
		n = i
	}
	return max(1, min(n, numCPU)), nil
}

// printPlugins lists what is compiled in, in the sections Casket users know.
func printPlugins(w io.Writer) {
	fmt.Fprintln(w, "Server types:\n  http")
	fmt.Fprintln(w, "\nDirectives (in execution order):")
	for _, n := range directives.Names() {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintln(w, "\nDNS providers:")
	for _, n := range dnsproviders.Names() {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintln(w, "\nStorage backends (CASKET_CLUSTERING):")
	for _, n := range tlsmgr.ClusteringBackends {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

// printErrors writes each error of a joined error on its own line.
func printErrors(w io.Writer, err error) {
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) && len(multi.Unwrap()) > 0 {
		for _, e := range multi.Unwrap() {
			printErrors(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}

// writePidFile writes the process id followed by a newline.
func writePidFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing pidfile: %w", err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing pidfile: %w", err)
	}
	return nil
}
