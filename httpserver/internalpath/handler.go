package internalpath

import (
	"errors"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// RedirectHeader is the response field that sends a request to an internal path.
const RedirectHeader = "X-Accel-Redirect"

// MaxRedirects is how many internal redirects one request may follow.
const MaxRedirects = 10

// dropFields removes the fields that describe the response carrying X-Accel-Redirect rather than the
// resource served instead.
func dropFields(h http.Header) {
	for _, f := range [...]string{
		RedirectHeader, "Content-Length", "Content-Encoding", "Content-Type", "Content-Range",
		"Etag", "Last-Modified", "Transfer-Encoding",
	} {
		h.Del(f)
	}
}

// Internal is the `internal` middleware.
type Internal struct {
	Next  httpserver.Handler
	Paths []string
}

// ServeHTTP answers 404 for internal paths. Otherwise it calls the next handler, and when that handler's
// response carries X-Accel-Redirect (and nothing was sent yet), it discards that response and serves the
// named path through the next handler instead, as a GET (or HEAD) without a body.
func (in *Internal) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	for _, p := range in.Paths {
		if httpserver.PathMatches(r.URL.Path, p) {
			return httpserver.Error(http.StatusNotFound, nil)
		}
	}
	iw := &internalWriter{ResponseWriter: w}
	err := in.Next.ServeHTTP(iw, r)
	for hops := 0; !iw.committed && iw.Header().Get(RedirectHeader) != ""; hops++ {
		target := iw.Header().Get(RedirectHeader)
		dropFields(iw.Header())
		if hops == MaxRedirects {
			return httpserver.Error(http.StatusInternalServerError,
				errors.New("internal: more than 10 X-Accel-Redirect hops"))
		}
		r2, ok := redirected(r, target)
		if !ok {
			return httpserver.Error(http.StatusInternalServerError,
				errors.New("internal: X-Accel-Redirect target "+`"`+target+`"`+" is not a path"))
		}
		r = r2
		iw.discard = false
		err = in.Next.ServeHTTP(iw, r)
	}
	return err
}

// redirected returns a copy of r for the internal path target ("/path[?query]").
func redirected(r *http.Request, target string) (*http.Request, bool) {
	p, query, hasQuery := strings.Cut(target, "?")
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.Path, u.RawPath = path.Clean(p), ""
	if hasQuery {
		u.RawQuery = query
	}
	r2.URL = &u
	if r2.Method != http.MethodHead {
		r2.Method = http.MethodGet
	}
	r2.Body, r2.ContentLength = http.NoBody, 0
	return r2, true
}

// internalWriter discards a response that carries X-Accel-Redirect when its header is written.
type internalWriter struct {
	http.ResponseWriter
	committed bool // a response went to the client
	discard   bool // the current response is being discarded
}

// check decides, on the first write of a response, whether it is sent or discarded.
func (iw *internalWriter) check() {
	if !iw.committed && !iw.discard {
		if iw.ResponseWriter.Header().Get(RedirectHeader) != "" {
			iw.discard = true
		} else {
			iw.committed = true
		}
	}
}

// WriteHeader passes status on unless the response is discarded; 1xx statuses always pass.
func (iw *internalWriter) WriteHeader(status int) {
	if status < 200 && !iw.discard {
		iw.ResponseWriter.WriteHeader(status)
		return
	}
	iw.check()
	if !iw.discard {
		iw.ResponseWriter.WriteHeader(status)
	}
}

// Write passes b on unless the response is discarded.
func (iw *internalWriter) Write(b []byte) (int, error) {
	iw.check()
	if iw.discard {
		return len(b), nil
	}
	return iw.ResponseWriter.Write(b)
}

// ReadFrom keeps the wrapped writer's sendfile path.
func (iw *internalWriter) ReadFrom(src io.Reader) (int64, error) {
	iw.check()
	if iw.discard {
		return io.Copy(io.Discard, src)
	}
	if rf, ok := iw.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{iw.ResponseWriter}, src)
}

// Flush flushes the wrapped writer unless the response is discarded.
func (iw *internalWriter) Flush() {
	iw.check()
	if !iw.discard {
		_ = http.NewResponseController(iw.ResponseWriter).Flush()
	}
}

// Unwrap returns the wrapped writer for http.ResponseController.
func (iw *internalWriter) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

// writerOnly hides any ReadFrom method of the writer so io.Copy does not loop.
type writerOnly struct{ io.Writer }
