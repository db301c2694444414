package encode

import (
	"net/http"
	"strings"
)

// responseWriter holds back the response header until it knows whether to compress: it decides at the
// first body byte (or once min_length bytes are buffered), at a Flush, or at Close.
type responseWriter struct {
	http.ResponseWriter
	h      *Handler
	coding string

	status   int  // the status the handler asked for; 0 until WriteHeader or Write
	decided  bool // the header went out
	enc      encoder
	buf      []byte // body held back while shorter than min_length
	closeErr error
}

// WriteHeader records the status. Informational statuses pass straight through; for responses that
// cannot be compressed the header goes out at once.
func (cw *responseWriter) WriteHeader(status int) {
	if cw.status != 0 || cw.decided {
		return
	}
	if status >= 100 && status < 200 {
		cw.ResponseWriter.WriteHeader(status)
		return
	}
	cw.status = status
	if !cw.eligible() {
		cw.start(false)
	}
}

// eligible checks what is known from the status and headers alone.
func (cw *responseWriter) eligible() bool {
	switch cw.status {
	case http.StatusNoContent, http.StatusNotModified, http.StatusPartialContent:
		return false
	}
	hdr := cw.Header()
	if hdr.Get("Content-Encoding") != "" || hdr.Get("Content-Range") != "" {
		return false
	}
	if strings.Contains(strings.ToLower(hdr.Get("Cache-Control")), "no-transform") {
		return false
	}
	if ct := hdr.Get("Content-Type"); ct != "" && incompressible(ct) {
		return false
	}
	if cl := hdr.Get("Content-Length"); cl != "" && cw.h.Config.MinLength > 0 {
		if n, ok := parseLength(cl); ok && n < int64(cw.h.Config.MinLength) {
			return false
		}
	}
	return true
}

// Write compresses, passes through, or buffers until the decision can be made.
func (cw *responseWriter) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.decided {
		if cw.enc != nil {
			return cw.enc.Write(p)
		}
		return cw.ResponseWriter.Write(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(cw.buf)+len(p) < cw.h.Config.MinLength {
		cw.buf = append(cw.buf, p...)
		return len(p), nil
	}
	if len(cw.buf) == 0 {
		if err := cw.start(true, p...); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	cw.buf = append(cw.buf, p...)
	if err := cw.start(true); err != nil {
		return 0, err
	}
	return len(p), nil
}

// start sends the header, compressed or not, then the buffered body (or first, if given).
func (cw *responseWriter) start(compress bool, first ...byte) error {
	cw.decided = true
	body := cw.buf
	if len(body) == 0 {
		body = first
	}
	cw.buf = nil
	hdr := cw.Header()
	if compress {
		if _, ok := hdr["Content-Type"]; !ok {
			if len(body) == 0 {
				// A flush before any byte: net/http would sniff the compressed bytes, so don't compress.
				compress = false
			} else {
				// Sniff here, as net/http would, since below us it would only see compressed bytes.
				hdr.Set("Content-Type", http.DetectContentType(body))
			}
		}
		if compress && incompressible(hdr.Get("Content-Type")) {
			compress = false
		}
	}
	if compress {
		hdr.Set("Content-Encoding", cw.coding)
		hdr.Del("Content-Length")
		hdr.Del("Accept-Ranges")
		if etag := hdr.Get("ETag"); strings.HasPrefix(etag, `"`) {
			hdr.Set("ETag", "W/"+etag) // the compressed bytes are not the identity bytes
		}
		cw.enc = cw.h.pools.get(cw.coding, cw.ResponseWriter)
	}
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	cw.ResponseWriter.WriteHeader(cw.status)
	if len(body) == 0 {
		return nil
	}
	var err error
	if cw.enc != nil {
		_, err = cw.enc.Write(body)
	} else {
		_, err = cw.ResponseWriter.Write(body)
	}
	return err
}

// Flush decides (compressing when eligible, since the final length is unknown), flushes the encoder,
// then the connection.
func (cw *responseWriter) Flush() {
	_ = cw.FlushError()
}

// FlushError is Flush reporting errors, for http.ResponseController.
func (cw *responseWriter) FlushError() error {
	if !cw.decided {
		if cw.status == 0 {
			cw.status = http.StatusOK
		}
		if err := cw.start(cw.eligible()); err != nil {
			return err
		}
	}
	if cw.enc != nil {
		if err := cw.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(cw.ResponseWriter).Flush()
}

// Close finishes the response: a body still under min_length goes out uncompressed, and the encoder
// writes its trailer and goes back to the pool. Nothing is written if the handler wrote nothing, so an
// error returned by it can still be answered by the handlers above.
func (cw *responseWriter) Close() error {
	if cw.status == 0 && !cw.decided {
		return nil
	}
	if !cw.decided {
		cw.closeErr = cw.start(false)
	}
	if cw.enc != nil {
		if err := cw.enc.Close(); err != nil && cw.closeErr == nil {
			cw.closeErr = err
		}
		cw.h.pools.put(cw.coding, cw.enc)
		cw.enc = nil
	}
	return cw.closeErr
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (cw *responseWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

func parseLength(s string) (int64, bool) {
	var n int64
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
