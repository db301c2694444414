package httpserver

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
)

func TestResponseRecorderReadFrom(t *testing.T) {
	w := httptest.NewRecorder()
	rr := NewResponseRecorder(w)
	var _ io.ReaderFrom = rr
	n, err := io.Copy(rr, bytes.NewReader(make([]byte, 70000)))
	if err != nil || n != 70000 {
		t.Fatalf("copy = %d, %v", n, err)
	}
	if rr.Size() != 70000 || rr.Status() != 200 || w.Body.Len() != 70000 {
		t.Fatalf("size %d status %d body %d", rr.Size(), rr.Status(), w.Body.Len())
	}
}
