package main

import (
	"fmt"
	"io"

	"go.uber.org/zap"
)

// minFiles is the open-file budget of the process itself (logs, storage, upstreams) before any site.
const minFiles = 1024

// filesPerSite is how many descriptors each site is assumed to need (listeners, connections, files).
const filesPerSite = 16

// wantFiles is the open-file limit recommended for a configuration of sites sites.
func wantFiles(sites int) uint64 { return minFiles + filesPerSite*uint64(sites) }

// warnFileLimit warns on the process log and on warn (stderr) when the soft open-file limit (RLIMIT_NOFILE)
// reported by getNofile is below wantFiles. getNofile returns ok false where the limit is unknown (Windows).
func warnFileLimit(logger *zap.Logger, warn io.Writer, sites int, getNofile func() (soft uint64, ok bool)) bool {
	soft, ok := getNofile()
	if !ok {
		return false
	}
	want := wantFiles(sites)
	if soft >= want {
		return false
	}
	logger.Warn("the open-file limit is low for this many sites; raise it with LimitNOFILE= in the "+
		"systemd unit or ulimit -n before starting casket",
		zap.Uint64("limit", soft), zap.Uint64("recommended", want), zap.Int("sites", sites))
	fmt.Fprintf(warn, "casket: warning: the open-file limit is %d, below the %d recommended for %d site(s); "+
		"raise it with LimitNOFILE= in the systemd unit or ulimit -n\n", soft, want, sites)
	return true
}
