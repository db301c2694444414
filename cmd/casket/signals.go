package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/on"
	"github.com/casketserver/casket/internal/metrics"
	"github.com/casketserver/casket/internal/version"
)

// server is the running process state: the live instance, the listeners it shares with its successors,
// and the old instances still draining after a reload.
type server struct {
	c      *config
	ld     *loader
	first  source // the source loaded at start; reused on reload when it cannot be read again (stdin)
	logger *zap.Logger
	stderr io.Writer

	pool     *httpserver.ListenerPool
	store    *certStorage // certificate storage shared by the instances' certificate managers
	in       *httpserver.Instance
	https    *autoHTTPS // the certificate manager of in
	draining sync.WaitGroup

	hooks   *on.Hooks         // the `on` commands of the running configurations; one per process
	metrics *metrics.Registry // the `prometheus` collectors; one per process, so counters survive reloads
	upgrade *upgrade          // the USR2 upgrade in progress, if any (upgrade.go)
}

// serve builds and starts the first instance, then handles signals until the process should exit
// (features.md §1.3): USR1 reloads with rollback, TERM and the first INT stop gracefully within -grace, a
// second INT exits 2 at once, QUIT exits 0 at once, HUP is ignored. Cancelling ctx acts like TERM.
func serve(ctx context.Context, c *config, ld *loader, src source, logger *zap.Logger, stdout, stderr io.Writer,
	store *certStorage) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, handledSignals...)
	defer signal.Stop(sigs)

	s := &server{c: c, ld: ld, first: src, logger: logger, stderr: stderr, pool: httpserver.NewListenerPool(), store: store,
		hooks: on.NewHooks(logger.Named("on")), metrics: metrics.New(logger.Named("metrics"))}
	defer s.pool.Close()
	store.metrics = s.metrics
	store.onRenewed = func(name string) { _ = s.hooks.CertRenewed(context.Background(), name) }
	inherited, err := adoptInherited(s.pool, s.metrics)
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}

	in, https, err := build(c, src, logger, stderr)
	if err != nil {
		printErrors(stderr, err)
		return exitStartup
	}
	if err := https.prepare(in, store); err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	startCtx, err := s.manageThenStart(ctx, in, https)
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	s.in, s.https = in, https
	s.pool.Prune() // inherited sockets the configuration no longer uses
	s.metrics.CloseInherited()
	upgraded := false
	if c.PidFile != "" {
		if err := writePidFile(c.PidFile); err != nil {
			fmt.Fprintf(stderr, "casket: %v\n", err)
			s.stopNow()
			return exitStartup
		}
		defer func() {
			if !upgraded { // the successor owns the pidfile now
				os.Remove(c.PidFile)
			}
		}()
	}
	warnFileLimit(logger, stderr, len(in.Sites()), getNofile)
	printSites(stdout, c.Quiet, in)
	logger.Info("serving", zap.String("config", src.Name), zap.Int("sites", len(in.Sites())), zap.Int("pid", os.Getpid()))
	inherited.ready(logger)
	_ = s.hooks.Started(startCtx)

	for {
		select {
		case <-ctx.Done():
			return s.shutdown(sigs, "context cancelled")
		case res := <-s.upgradeDone():
			if s.upgradeFinished(res) {
				upgraded = true
				return s.handOver(sigs)
			}
		case sig := <-sigs:
			switch sig {
			case sigReload:
				s.reload(ctx)
			case sigUpgrade:
				s.startUpgrade()
			case syscall.SIGHUP:
				logger.Info("ignoring SIGHUP")
			case syscall.SIGQUIT:
				logger.Info("SIGQUIT: exiting immediately")
				return exitOK
			case syscall.SIGINT, syscall.SIGTERM:
				return s.shutdown(sigs, sig.String())
			}
		}
	}
}

// reload re-runs the loader and swaps instances: build the new one, start it on the shared listener pool,
// then drain the old one in the background. Any error leaves the old instance serving (rollback).
func (s *server) reload(ctx context.Context) {
	start := time.Now()
	s.logger.Info("reloading")
	src := s.first
	if !s.first.Reusable {
		var err error
		if src, err = s.ld.load(); err != nil {
			s.reloadFailed(err)
			return
		}
	}
	next, nextHTTPS, err := build(s.c, src, s.logger, s.stderr)
	if err != nil {
		s.reloadFailed(err)
		return
	}
	if err := nextHTTPS.prepare(next, s.store); err != nil {
		s.reloadFailed(err)
		return
	}
	startCtx, err := s.manageThenStart(ctx, next, nextHTTPS)
	if err != nil {
		s.reloadFailed(err)
		return
	}
	old, oldHTTPS := s.in, s.https
	s.in, s.https = next, nextHTTPS
	s.draining.Add(1)
	go func() {
		defer s.draining.Done()
		stopCtx, cancel := context.WithTimeout(context.Background(), s.c.Grace)
		defer cancel()
		if err := old.Stop(stopCtx); err != nil {
			s.logger.Warn("stopping previous configuration", zap.Error(err))
		}
		oldHTTPS.close() // after its instance stopped: no handshake needs it anymore
	}()
	s.logger.Info("reloaded", zap.String("config", src.Name), zap.Int("sites", len(next.Sites())),
		zap.Duration("took", time.Since(start)))
	_ = s.hooks.Started(startCtx)
}

// startContext is the context of one Instance.Start: it carries the `on` hooks and the metrics registry
// that the directives' Provision methods register with.
func (s *server) startContext(ctx context.Context) context.Context {
	return metrics.NewContext(s.hooks.Context(ctx), s.metrics)
}

// manageThenStart binds the instance's addresses (connections wait in the sockets' queues), starts
// managing its certificates (stored ones are loaded before this returns, missing ones are ordered in the
// background, and the CA's validation requests find the ports bound), then starts the instance, which
// thus serves the stored certificates from its first connection. On error everything it did is undone.
// It returns the start context, for hooks.Started.
func (s *server) manageThenStart(ctx context.Context, in *httpserver.Instance, https *autoHTTPS) (context.Context, error) {
	_ = s.pool.Reserve(in.Addresses()) // a failed bind is reported by Start, with its context
	if err := https.manage(ctx, in); err != nil {
		https.close()
		s.pool.Prune()
		return nil, err
	}
	startCtx := s.startContext(ctx)
	if err := in.Start(startCtx, s.pool); err != nil {
		https.close()
		s.pool.Prune()
		return nil, fmt.Errorf("starting server: %w", err)
	}
	return startCtx, nil
}

// reloadFailed reports a rejected reload on the process log and on stderr: the operator must see that
// the old configuration is still the one serving.
func (s *server) reloadFailed(err error) {
	s.logger.Error("reload failed; previous configuration still serving", zap.Error(err))
	fmt.Fprintln(s.stderr, "casket: reload failed; previous configuration still serving:")
	printErrors(s.stderr, err)
}

// shutdown runs the `on shutdown` commands, then stops the live instance within -grace. A SIGINT arriving
// meanwhile forces exit code 2; QUIT exits at once with 0. A stop that fails for a reason other than the
// grace period elapsing exits 3; a failed shutdown command exits 4 once the server stopped cleanly.
func (s *server) shutdown(sigs <-chan os.Signal, why string) int {
	s.logger.Info("shutting down", zap.String("reason", why), zap.Duration("grace", s.c.Grace))
	s.abortUpgrade()
	hookCtx, cancel := context.WithTimeout(context.Background(), s.c.Grace)
	hookErr := s.hooks.Shutdown(hookCtx)
	cancel()
	if code := s.stop(sigs); code != exitOK || hookErr == nil {
		return code
	}
	s.logger.Error("shutdown command failed", zap.Error(hookErr))
	fmt.Fprintf(s.stderr, "casket: on shutdown: %v\n", hookErr)
	return exitCallbacks
}

// stop closes the listeners and drains the live instance and the ones still draining from reloads.
func (s *server) stop(sigs <-chan os.Signal) int {
	// Close the sockets first so new connections are refused at once; accepted ones drain below.
	if err := s.pool.Close(); err != nil {
		s.logger.Warn("closing listeners", zap.Error(err))
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.c.Grace)
		defer cancel()
		err := s.in.Stop(ctx)
		s.draining.Wait()
		s.https.close()
		done <- err
	}()
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				s.logger.Error("stopping", zap.Error(err))
				fmt.Fprintf(s.stderr, "casket: stopping: %v\n", err)
				return exitStop
			}
			if err != nil {
				s.logger.Warn("grace period elapsed; remaining connections closed", zap.Duration("grace", s.c.Grace))
			}
			s.logger.Info("stopped")
			return exitOK
		case sig := <-sigs:
			switch sig {
			case syscall.SIGINT:
				s.logger.Warn("second SIGINT: forcing exit")
				return exitForceQuit
			case syscall.SIGQUIT:
				return exitOK
			}
		}
	}
}

// stopNow stops the live instance without waiting for connections to drain.
func (s *server) stopNow() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.in.Stop(ctx)
	s.https.close()
}

// printSites writes the start-up banner (unless quiet) and then one line per site address.
func printSites(w io.Writer, quiet bool, in *httpserver.Instance) {
	if !quiet {
		fmt.Fprintf(w, "%s\nServing on %d site address(es):\n", version.Get(), len(in.Sites()))
	}
	for _, site := range in.Sites() {
		fmt.Fprintln(w, site.Addr.String())
	}
}
