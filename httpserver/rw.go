package httpserver

import (
	"io"
	"net/http"
)

// ResponseRecorder wraps a ResponseWriter to remember the status and the number of body bytes written.
// It exposes Unwrap so http.ResponseController reaches Flush, Hijack and deadlines of the real writer.
type ResponseRecorder struct {
	http.ResponseWriter
	status int
	size   int64
}

// NewResponseRecorder wraps w.
func NewResponseRecorder(w http.ResponseWriter) *ResponseRecorder {
	return &ResponseRecorder{ResponseWriter: w}
}

// WriteHeader records status and passes it on. Informational (1xx) statuses are passed on only.
func (rr *ResponseRecorder) WriteHeader(status int) {
	if rr.status == 0 && status >= 200 {
		rr.status = status
	}
	rr.ResponseWriter.WriteHeader(status)
}

// Write records the size and passes the bytes on.
func (rr *ResponseRecorder) Write(b []byte) (int, error) {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	n, err := rr.ResponseWriter.Write(b)
	rr.size += int64(n)
	return n, err
}

// Status returns the status written so far, or 0 if nothing was written.
func (rr *ResponseRecorder) Status() int { return rr.status }

// Size returns the number of body bytes written.
func (rr *ResponseRecorder) Size() int64 { return rr.size }

// Written reports whether a status or body has been written.
func (rr *ResponseRecorder) Written() bool { return rr.status != 0 }

// Unwrap returns the wrapped ResponseWriter.
func (rr *ResponseRecorder) Unwrap() http.ResponseWriter { return rr.ResponseWriter }

// Flush flushes the wrapped writer if it can.
func (rr *ResponseRecorder) Flush() {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	_ = http.NewResponseController(rr.ResponseWriter).Flush()
}

// ReadFrom lets io.Copy reach the connection's ReadFrom (sendfile for files) through the recorder.
func (rr *ResponseRecorder) ReadFrom(src io.Reader) (int64, error) {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := rr.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{rr.ResponseWriter}, src)
	}
	rr.size += n
	return n, err
}
