package fileserver

import (
	"path"
	"slices"
	"strings"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/httpserver/limits"
)

// SetupRoot parses `root path` and sets s.Root. A relative path is relative to the working directory.
func SetupRoot(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next()
	args := d.RemainingArgs()
	if len(args) != 1 {
		return nil, d.Errf("expected exactly one path, got %d arguments", len(args))
	}
	if args[0] == "" {
		return nil, d.Errf("the root path must not be empty")
	}
	if d.NextBlock(0) {
		return nil, d.Errf("root takes no block")
	}
	s.Root = args[0]
	return nil, nil
}

// SetupIndex parses `index file...` and sets s.IndexFiles, replacing the defaults.
func SetupIndex(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.Errf("expected one or more index file names, e.g. `index index.html default.htm`")
	}
	for _, a := range args {
		if a == "" || strings.HasPrefix(a, "/") || path.Clean(a) != a || strings.HasPrefix(a, "..") {
			return nil, d.Errf("index file %q must be a plain relative name such as index.html", a)
		}
	}
	if d.NextBlock(0) {
		return nil, d.Errf("index takes no block")
	}
	s.IndexFiles = append(s.IndexFiles, args...)
	return nil, nil
}

// SetupBrowse parses
//
//	browse [path [tplfile]]
//	browse [path] {
//		path         base
//		tplfile      file
//		servearchive [formats...]
//		buffer       size
//	}
//
// and returns the directory-listing middleware for base paths under path ("/" by default).
// servearchive without formats enables every format (ArchiveFormatNames); buffer is how far an
// archive may be produced ahead of the client (DefaultArchiveBufferSize).
func SetupBrowse(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next()
	cfg := BrowseConfig{Path: "/"}
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		cfg.Path = args[0]
	case 2:
		cfg.Path, cfg.TemplateFile = args[0], args[1]
	default:
		return nil, d.Errf("expected `browse [path [tplfile]]`, got %d arguments", len(args))
	}
	for d.NextBlock(0) {
		sub := d.Val()
		vals := d.RemainingArgs()
		switch sub {
		case "path":
			if len(vals) != 1 {
				return nil, d.Errf("path: expected exactly one base path")
			}
			cfg.Path = vals[0]
		case "tplfile":
			if len(vals) != 1 {
				return nil, d.Errf("tplfile: expected exactly one template file")
			}
			cfg.TemplateFile = vals[0]
		case "servearchive":
			formats, err := parseArchiveFormats(d, vals)
			if err != nil {
				return nil, err
			}
			cfg.Archives = formats
		case "buffer":
			if len(vals) == 0 {
				return nil, d.Errf("buffer: expected a size such as 10MB or 512KB")
			}
			size, err := limits.ParseSize(strings.Join(vals, ""))
			if err != nil {
				return nil, d.Errf("buffer: %v", err)
			}
			if size < minArchiveBuffer || size > maxArchiveBuffer {
				return nil, d.Errf("buffer: size %s is out of range: use 4KB to 1GB", strings.Join(vals, " "))
			}
			cfg.BufferSize = int(size)
		default:
			return nil, d.Errf("unknown subdirective %q (expected path, tplfile, servearchive or buffer)", sub)
		}
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = DefaultArchiveBufferSize
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, d.Errf("path %q must start with /", cfg.Path)
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return newBrowse(cfg, s, next)
	}, nil
}

// Limits of the `buffer` size of browse archives.
const (
	minArchiveBuffer = 4 << 10
	maxArchiveBuffer = 1 << 30
)

// parseArchiveFormats checks the formats of `servearchive`: all of them when none is named, each
// at most once.
func parseArchiveFormats(d *casketfile.Dispenser, names []string) ([]string, error) {
	if len(names) == 0 {
		return ArchiveFormatNames(), nil
	}
	var out []string
	for _, n := range names {
		if _, ok := lookupArchiveFormat(n); !ok {
			return nil, d.Errf("servearchive: unknown archive format %q (available in this build: %s)",
				n, strings.Join(ArchiveFormatNames(), " "))
		}
		if slices.Contains(out, n) {
			return nil, d.Errf("servearchive: format %q is listed twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// SetupExt parses `ext .html .htm ...` and returns the clean-URL middleware.
func SetupExt(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next()
	exts := d.RemainingArgs()
	if len(exts) == 0 {
		return nil, d.Errf("expected one or more extensions, e.g. `ext .html .htm`")
	}
	for _, e := range exts {
		if len(e) < 2 || e[0] != '.' || strings.ContainsAny(e, "/\\") {
			return nil, d.Errf("extension %q must start with a dot, like .html", e)
		}
	}
	if d.NextBlock(0) {
		return nil, d.Errf("ext takes no block")
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return &Ext{Next: next, Extensions: exts, root: newSiteRoot(s)}
	}, nil
}

// SetupTryFiles parses
//
//	tryfiles [paths...] {
//		except  paths...
//		without prefix
//	}
//
// Without paths it tries {path} then the site's index files; without `except` it leaves /.well-known
// alone; without `without` it strips the site's base path. {cfg.addr.path} stands for the site's base
// path.
func SetupTryFiles(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next()
	base := s.Addr.Path
	if base == "/" {
		base = ""
	}
	cfg := TryFilesConfig{Without: base}
	for _, p := range d.RemainingArgs() {
		cfg.Paths = append(cfg.Paths, expandCfg(p, base))
	}
	exceptSet := false
	for d.NextBlock(0) {
		sub := d.Val()
		vals := d.RemainingArgs()
		switch sub {
		case "except":
			if len(vals) == 0 {
				return nil, d.Errf("except: expected one or more paths")
			}
			for _, v := range vals {
				cfg.Except = append(cfg.Except, expandCfg(v, base))
			}
			exceptSet = true
		case "without":
			if len(vals) != 1 {
				return nil, d.Errf("without: expected exactly one path prefix")
			}
			cfg.Without = expandCfg(vals[0], base)
		default:
			return nil, d.Errf("unknown subdirective %q (expected except or without)", sub)
		}
	}
	if !exceptSet {
		cfg.Except = []string{"/.well-known"}
		if base != "" {
			cfg.Except = append(cfg.Except, path.Join(base, "/.well-known"))
		}
	}
	return func(next httpserver.Handler) httpserver.Handler {
		return newTryFiles(cfg, s, next)
	}, nil
}

// expandCfg replaces {cfg.addr.path}, the site's base path, which is known at setup.
func expandCfg(s, base string) string {
	return strings.ReplaceAll(s, "{cfg.addr.path}", base)
}
