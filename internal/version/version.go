// Package version reports which Casket build is running: the version stamped with -ldflags at release
// time, or else what the Go toolchain recorded in the binary's build information.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is set at build time with
//
//	go build -ldflags "-X github.com/casketserver/casket/internal/version.Version=v1.2.3"
//
// When empty, Info falls back to the module version or VCS revision from debug.ReadBuildInfo.
var Version = ""

// Info describes the running binary.
type Info struct {
	Version  string // "v1.2.3", "(devel)" or a VCS-derived description
	Sum      string // module checksum when built from a module download
	Revision string // VCS revision when built from a checkout
	Modified bool   // the checkout had uncommitted changes
	Go       string // Go toolchain version
}

// Get returns the build information of the running binary.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(Version, bi, ok)
}

func fromBuildInfo(stamped string, bi *debug.BuildInfo, ok bool) Info {
	info := Info{Version: stamped, Go: runtime.Version()}
	if !ok || bi == nil {
		if info.Version == "" {
			info.Version = "(unknown)"
		}
		return info
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	info.Sum = bi.Main.Sum
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "(devel)"
		if info.Revision != "" {
			info.Version = "(devel) " + short(info.Revision)
			if info.Modified {
				info.Version += "+dirty"
			}
		}
	}
	return info
}

// String formats the information as printed by `casket -version`: "Casket v1.2.3 (go1.26.8)", with the
// module checksum appended when known.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Casket %s (%s)", i.Version, i.Go)
	if i.Sum != "" {
		fmt.Fprintf(&b, " %s", i.Sum)
	}
	return b.String()
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
