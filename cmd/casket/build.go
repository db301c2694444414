package main

import (
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/directives"
	"github.com/casketserver/casket/httpserver/fileserver"
)

// build parses src and sets up every site, binding nothing and contacting no CA: it is all that -validate
// runs. Parse warnings go to the process log and to warn (stderr), where -validate users see them. The
// returned autoHTTPS has no certificate manager yet: serve calls its prepare and manage before Start.
func build(c *config, src source, logger *zap.Logger, warn io.Writer) (*httpserver.Instance, *autoHTTPS, error) {
	blocks, err := casketfile.ParseWithOptions(src.Name, src.Body, casketfile.ParseOptions{
		Warn: func(msg string) {
			logger.Warn("casketfile", zap.String("warning", msg))
			fmt.Fprintf(warn, "casket: warning: %s\n", msg)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	https := &autoHTTPS{c: c, log: logger}
	in, err := httpserver.Build(blocks, httpserver.Options{
		Host:         c.Host,
		Port:         c.Port,
		Root:         c.Root,
		HTTPPort:     c.HTTPPort,
		HTTPSPort:    c.HTTPSPort,
		Directives:   directives.All(),
		Final:        fileserver.New,
		ConfigFile:   src.Path,
		Logger:       logger,
		DisableHTTP2: !c.HTTP2,
		HTTP3:        c.QUIC,
		AutoHTTPS:    true,
		AssignPort:   assignPort(c),
		Intercept:    https.intercept,
	})
	if err != nil {
		return nil, nil, err
	}
	return in, https, nil
}

// runFmt prints the loaded Casketfile in canonical form (-fmt).
func runFmt(ld *loader, stdout, stderr io.Writer) int {
	src, err := ld.load()
	if err != nil {
		fmt.Fprintf(stderr, "casket: %v\n", err)
		return exitStartup
	}
	_, _ = stdout.Write(casketfile.Format(src.Body))
	return exitOK
}
