package proxy

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"
)

// maxBufferedBody is the largest request body (with a known length) kept in memory so a failed attempt
// can be retried. Larger and chunked bodies stream; they are retried only if the failed attempt read
// none of them (the usual case: the upstream could not be dialed).
const maxBufferedBody = 64 << 10

// retryBody lets the retry loop send a request body again.
type retryBody struct {
	buf     []byte        // the whole body, when it was small enough to buffer
	src     io.ReadCloser // the streaming body otherwise
	started atomic.Bool   // some of src was read
}

// prepareBody wraps r's body for retries when retry is set; it returns nil when no wrapping is needed.
func prepareBody(r *http.Request, retry bool) (*retryBody, *http.Request) {
	if !retry || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, r
	}
	rb := &retryBody{}
	r2 := r.WithContext(r.Context())
	if r.ContentLength > 0 && r.ContentLength <= maxBufferedBody {
		buf := make([]byte, r.ContentLength)
		n, err := io.ReadFull(r.Body, buf)
		if err == nil {
			rb.buf = buf
			return rb, r2
		}
		// A short body: send what arrived, once, and let the upstream see the truncation.
		rb.src = io.NopCloser(io.MultiReader(bytes.NewReader(buf[:n]), r.Body))
		rb.started.Store(true)
		return rb, r2
	}
	rb.src = r.Body
	return rb, r2
}

// rewind sets a fresh body on r for the next attempt.
func (rb *retryBody) rewind(r *http.Request) {
	if rb.buf != nil {
		r.Body = io.NopCloser(bytes.NewReader(rb.buf))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rb.buf)), nil }
		return
	}
	r.Body = streamBody{rb}
}

// replayable reports whether the body can be sent again.
func (rb *retryBody) replayable() bool { return rb.buf != nil || !rb.started.Load() }

// streamBody reads the original body, noting that it was started; Close is left to the server.
type streamBody struct{ rb *retryBody }

func (s streamBody) Read(p []byte) (int, error) {
	n, err := s.rb.src.Read(p)
	if n > 0 {
		s.rb.started.Store(true)
	}
	return n, err
}

func (s streamBody) Close() error { return nil }
