package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casketserver/casket/httpserver"
)

// Handler sends requests under Config.Path to the FastCGI endpoints.
type Handler struct {
	Next   httpserver.Handler
	Config *Config

	root string // absolute document root, set by Provision
	next atomic.Uint32
	bufs sync.Pool // 32 KiB buffers to send request bodies and copy responses
}

// New returns the handler for cfg in front of next. Provision must run before it serves.
func New(next httpserver.Handler, cfg *Config) *Handler {
	h := &Handler{Next: next, Config: cfg}
	h.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return h
}

// Provision resolves the document root (the `root` option, else the site's root) to an absolute path:
// SCRIPT_FILENAME must be absolute for PHP-FPM.
func (h *Handler) Provision(_ context.Context, s *httpserver.Site) error {
	root := h.Config.Root
	if root == "" && s != nil {
		root = s.Root
	}
	if root == "" {
		root = "."
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("fastcgi: resolving root %q: %w", root, err)
	}
	h.root = abs
	return nil
}

// ServeHTTP answers requests the FastCGI server is responsible for and passes the others on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	cfg := h.Config
	if !httpserver.PathMatches(r.URL.Path, cfg.Path) {
		return h.Next.ServeHTTP(w, r)
	}
	for _, e := range cfg.Except {
		if httpserver.PathMatches(r.URL.Path, e) {
			return h.Next.ServeHTTP(w, r)
		}
	}
	if h.root == "" {
		return httpserver.Error(http.StatusInternalServerError, errors.New("fastcgi: handler used before Provision"))
	}
	fpath := r.URL.Path
	if strings.HasSuffix(fpath, "/") {
		for _, idx := range cfg.IndexFiles {
			if h.isFile(fpath + idx) {
				fpath += idx
				break
			}
		}
	} else if len(cfg.IndexFiles) > 0 && h.isDir(fpath) {
		for _, idx := range cfg.IndexFiles {
			if h.isFile(fpath + "/" + idx) {
				target := httpserver.InfoFrom(r).OriginalURL.Path + "/"
				if q := r.URL.RawQuery; q != "" {
					target += "?" + q
				}
				http.Redirect(w, r, target, http.StatusMovedPermanently)
				return nil
			}
		}
	}
	// As in Casket v1, these criteria suit PHP sites: missing files (front controllers, PATH_INFO),
	// directories and scripts go to FastCGI; other existing files are served by the next handler.
	if h.exists(fpath) && !strings.HasSuffix(fpath, "/") && (cfg.Ext == "" || !hasSuffixFold(fpath, cfg.Ext)) {
		return h.Next.ServeHTTP(w, r)
	}
	return h.serve(w, r, fpath)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func (h *Handler) file(p string) string {
	return filepath.Join(h.root, filepath.FromSlash(path.Clean("/"+p)))
}

func (h *Handler) exists(p string) bool { _, err := os.Stat(h.file(p)); return err == nil }

func (h *Handler) isFile(p string) bool {
	fi, err := os.Stat(h.file(p))
	return err == nil && fi.Mode().IsRegular()
}

func (h *Handler) isDir(p string) bool {
	fi, err := os.Stat(h.file(p))
	return err == nil && fi.IsDir()
}

// serve runs one request against the FastCGI server and writes its response.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, fpath string) error {
	body := io.Reader(r.Body)
	length := r.ContentLength
	if r.Body == nil || r.Body == http.NoBody {
		body, length = nil, 0
	} else if length < 0 {
		// FastCGI applications read CONTENT_LENGTH bytes: a chunked body is buffered to count it.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return httpserver.Error(http.StatusBadRequest, fmt.Errorf("reading request body: %w", err))
		}
		body, length = bytes.NewReader(b), int64(len(b))
	}
	params := h.params(r, fpath, length)
	fc, err := h.dial(r.Context())
	if err != nil {
		return httpserver.Error(http.StatusBadGateway, err)
	}
	defer fc.c.Close()
	stop := context.AfterFunc(r.Context(), func() { fc.c.Close() })
	defer stop()

	bufp := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(bufp)
	if err := fc.begin(params); err != nil {
		return httpserver.Error(http.StatusBadGateway, fmt.Errorf("fastcgi: sending request: %w", err))
	}
	if err := fc.sendBody(body, *bufp); err != nil {
		return httpserver.Error(http.StatusBadGateway, fmt.Errorf("fastcgi: sending request: %w", err))
	}

	br := bufio.NewReaderSize(fc, 4096)
	hdr, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil {
		if len(fc.stderr) > 0 {
			err = fmt.Errorf("%w; stderr: %s", err, bytes.TrimSpace(fc.stderr))
		}
		return httpserver.Error(http.StatusBadGateway, fmt.Errorf("fastcgi: reading response header: %w", err))
	}
	status := http.StatusOK
	if s := hdr.Get("Status"); s != "" {
		code, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(s, " ", 2)[0]))
		if err != nil || code < 100 || code > 999 {
			return httpserver.Error(http.StatusBadGateway, fmt.Errorf("fastcgi: bad Status %q", s))
		}
		status = code
		delete(hdr, "Status")
	} else if hdr.Get("Location") != "" {
		status = http.StatusFound
	}
	wh := w.Header()
	for k, v := range hdr {
		wh[k] = v
	}
	w.WriteHeader(status)
	if err := copyBody(w, br, *bufp, hdr.Get("Content-Length") == ""); err != nil {
		if r.Context().Err() == nil {
			panic(http.ErrAbortHandler) // a half-sent response cannot be completed
		}
		return httpserver.Error(status, err)
	}
	if len(fc.stderr) > 0 {
		return httpserver.Error(status, fmt.Errorf("fastcgi stderr: %s", bytes.TrimSpace(fc.stderr)))
	}
	return nil
}

// copyBody copies the response body, flushing after each chunk when flush is set (no Content-Length:
// the application may be streaming).
func copyBody(w http.ResponseWriter, r io.Reader, buf []byte, flush bool) error {
	rc := http.NewResponseController(w)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// dial connects to the next endpoint, trying the others in turn when one cannot be reached.
func (h *Handler) dial(ctx context.Context) (*conn, error) {
	eps := h.Config.Endpoints
	start := h.next.Add(1) - 1
	var errs []error
	d := net.Dialer{Timeout: h.Config.ConnectTimeout}
	for i := range eps {
		ep := eps[(int(start)+i)%len(eps)]
		c, err := d.DialContext(ctx, ep.Network, ep.Address)
		if err == nil {
			return newConn(c, h.Config.ReadTimeout, h.Config.SendTimeout), nil
		}
		errs = append(errs, fmt.Errorf("connecting to fastcgi %s: %w", ep.Address, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
