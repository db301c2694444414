package fileserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/casketserver/casket/httpserver"
)

// BrowseConfig is the configuration of one `browse` directive.
type BrowseConfig struct {
	Path         string   // base path whose directories may be listed
	TemplateFile string   // custom template; "" for the built-in one
	Archives     []string // formats `?archive=` may ask for (servearchive); none by default
	BufferSize   int      // bytes an archive may be produced ahead of the client; 0 for the default
}

// Browse is the `browse` middleware: a GET or HEAD for a directory under its base path that has no
// index file gets a listing, as HTML or, when the client accepts application/json, as JSON.
type Browse struct {
	Next   httpserver.Handler
	Config BrowseConfig

	site *httpserver.Site
	root *siteRoot

	tplOnce sync.Once
	tpl     *template.Template
	tplErr  error

	archives    map[string]archiveFormat // the enabled formats by name
	links       []ArchiveLink            // their links, for listings
	linkHeaders []string                 // their Link header values
	abortFn     func(error)              // tests: called instead of dropping the connection
}

func newBrowse(cfg BrowseConfig, s *httpserver.Site, next httpserver.Handler) *Browse {
	b := &Browse{Next: next, Config: cfg, site: s, root: newSiteRoot(s)}
	if b.Config.BufferSize <= 0 {
		b.Config.BufferSize = DefaultArchiveBufferSize
	}
	b.archives = make(map[string]archiveFormat, len(cfg.Archives))
	for _, name := range cfg.Archives {
		if f, ok := lookupArchiveFormat(name); ok {
			b.archives[name] = f
			l := ArchiveLink{Format: name, URL: "?archive=" + url.QueryEscape(name)}
			b.links = append(b.links, l)
			b.linkHeaders = append(b.linkHeaders, "<"+l.URL+`>; rel="alternate"; type="`+f.mime+`"; title="`+name+`"`)
		}
	}
	return b
}

// Provision loads and parses the custom template, so that a broken one stops the start.
func (b *Browse) Provision(ctx context.Context, s *httpserver.Site) error {
	_, err := b.template()
	return err
}

// Close releases the root directory.
func (b *Browse) Close() error { return b.root.close() }

func (b *Browse) template() (*template.Template, error) {
	b.tplOnce.Do(func() {
		if b.Config.TemplateFile == "" {
			b.tpl, b.tplErr = template.New("listing").Parse(defaultTemplate)
			return
		}
		src, err := os.ReadFile(b.Config.TemplateFile)
		if err != nil {
			b.tplErr = fmt.Errorf("browse: reading template: %w", err)
			return
		}
		b.tpl, err = template.New(path.Base(b.Config.TemplateFile)).Parse(string(src))
		if err != nil {
			b.tplErr = fmt.Errorf("browse: parsing template %s: %w", b.Config.TemplateFile, err)
		}
	})
	return b.tpl, b.tplErr
}

// ServeHTTP lists the directory, or passes the request on when it is not for a listable directory.
func (b *Browse) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !httpserver.PathMatches(r.URL.Path, b.Config.Path) {
		return b.Next.ServeHTTP(w, r)
	}
	name, slash, ok := cleanName(r.URL.Path)
	if !ok || !slash { // the file server redirects directories to their slashed path
		return b.Next.ServeHTTP(w, r)
	}
	h := b.root.get(time.Now().UnixNano())
	if h.err != nil {
		return b.Next.ServeHTTP(w, r)
	}
	info, err := h.stat(name)
	if err != nil || !info.IsDir() || h.isHidden(name, info) {
		return b.Next.ServeHTTP(w, r)
	}
	for _, idx := range b.site.Indexes() {
		if h.exists(path.Join(name, idx), false) {
			return b.Next.ServeHTTP(w, r)
		}
	}
	if r.URL.RawQuery != "" {
		if q := r.URL.Query(); q.Has("archive") {
			f, ok := b.archives[q.Get("archive")]
			if !ok {
				return httpserver.Error(http.StatusNotFound, fmt.Errorf("browse: archive format %q is not enabled", q.Get("archive")))
			}
			return b.serveArchive(w, r, h, name, f)
		}
	}
	listing, err := b.list(h, name, r)
	if err != nil {
		return httpserver.Error(statusFor(err), err)
	}
	var buf bytes.Buffer
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	for _, v := range b.linkHeaders {
		hdr.Add("Link", v)
	}
	if acceptsJSON(r) {
		if err := json.NewEncoder(&buf).Encode(listing.Items); err != nil {
			return httpserver.Error(http.StatusInternalServerError, err)
		}
		hdr.Set("Content-Type", "application/json; charset=utf-8")
	} else {
		tpl, err := b.template()
		if err != nil {
			return httpserver.Error(http.StatusInternalServerError, err)
		}
		if err := tpl.Execute(&buf, listing); err != nil {
			return httpserver.Error(http.StatusInternalServerError, fmt.Errorf("browse: executing template: %w", err))
		}
		hdr.Set("Content-Type", "text/html; charset=utf-8")
	}
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func acceptsJSON(r *http.Request) bool {
	for _, v := range r.Header["Accept"] {
		if strings.Contains(strings.ToLower(v), "application/json") {
			return true
		}
	}
	return false
}

// list reads directory name and builds the sorted, limited listing the request asks for.
func (b *Browse) list(h *rootHandle, name string, r *http.Request) (*Listing, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	reqPath := path.Clean("/" + r.URL.Path)
	l := &Listing{
		Name:     path.Base(reqPath),
		Path:     r.URL.Path,
		CanGoUp:  reqPath != "/" && len(strings.TrimSuffix(reqPath, "/")) > len(strings.TrimSuffix(b.Config.Path, "/")),
		Archives: b.links,
	}
	for _, e := range entries {
		full := path.Join(name, e.Name())
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		fi := FileInfo{Name: e.Name(), Size: info.Size(), ModTime: info.ModTime(), Mode: info.Mode(), IsDir: e.IsDir()}
		if e.Type()&fs.ModeSymlink != 0 {
			fi.IsSymlink = true
			// Follow the link for size and type, but only inside the root.
			if target, err := h.root.Stat(full); err == nil {
				info = target
				fi.Size, fi.IsDir, fi.ModTime = target.Size(), target.IsDir(), target.ModTime()
			}
		}
		if h.isHidden(full, info) {
			continue
		}
		u := url.URL{Path: "./" + e.Name()}
		fi.URL = u.String()
		if fi.IsDir {
			fi.URL += "/"
			l.NumDirs++
		} else {
			l.NumFiles++
		}
		l.Items = append(l.Items, fi)
	}
	q := r.URL.Query()
	l.Sort, l.Order = q.Get("sort"), q.Get("order")
	if l.Sort == "" {
		l.Sort = "name"
	}
	if l.Order == "" {
		l.Order = "asc"
	}
	l.applySort()
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n < len(l.Items) {
		l.Items = l.Items[:n]
		l.ItemsLimitedTo = n
	}
	return l, nil
}

func (l *Listing) applySort() {
	var less func(a, b FileInfo) bool
	switch l.Sort {
	case "size":
		less = func(a, b FileInfo) bool {
			if a.IsDir != b.IsDir {
				return a.IsDir
			}
			return a.Size < b.Size
		}
	case "time":
		less = func(a, b FileInfo) bool { return a.ModTime.Before(b.ModTime) }
	case "namedirfirst":
		less = func(a, b FileInfo) bool {
			if a.IsDir != b.IsDir {
				return a.IsDir
			}
			return strings.ToLower(a.Name) < strings.ToLower(b.Name)
		}
	default:
		l.Sort = "name"
		less = func(a, b FileInfo) bool { return strings.ToLower(a.Name) < strings.ToLower(b.Name) }
	}
	if l.Order != "desc" {
		l.Order = "asc"
	}
	desc := l.Order == "desc"
	sort.SliceStable(l.Items, func(i, j int) bool {
		if desc {
			return less(l.Items[j], l.Items[i])
		}
		return less(l.Items[i], l.Items[j])
	})
}

var _ httpserver.Provisioner = (*Browse)(nil)
