package fileserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestBufferPipe(t *testing.T) {
	data := make([]byte, 300<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, max := range []int{4 << 10, 100 << 10, 10 << 20} {
		p := newBufferPipe(max)
		go func() {
			rest := data
			for len(rest) > 0 {
				n := min(len(rest), 1+rng.IntN(70<<10))
				if _, err := p.Write(rest[:n]); err != nil {
					p.closeWrite(err)
					return
				}
				rest = rest[n:]
			}
			p.closeWrite(nil)
		}()
		var got bytes.Buffer
		buf := make([]byte, 5000)
		for {
			n, err := p.Read(buf)
			got.Write(buf[:n])
			p.mu.Lock()
			if len(p.buf) > max {
				t.Errorf("buffer grew to %d, limit %d", len(p.buf), max)
			}
			p.mu.Unlock()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Errorf("max %d: data differs (%d bytes read)", max, got.Len())
		}
	}
}

func TestBufferPipeErrors(t *testing.T) {
	// The writer's failure reaches the reader after the buffered data.
	p := newBufferPipe(4 << 10)
	boom := errors.New("boom")
	p.Write([]byte("abc"))
	p.closeWrite(boom)
	got, err := io.ReadAll(p)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Errorf("read %q, %v", got, err)
	}

	// A reader that goes away unblocks a writer waiting for room.
	p = newBufferPipe(4 << 10)
	done := make(chan error, 1)
	go func() {
		_, err := p.Write(make([]byte, 64<<10))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p.closeRead(nil)
	select {
	case err := <-done:
		if !errors.Is(err, errReaderGone) {
			t.Errorf("write error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writer still blocked after the reader left")
	}
}

// A client that disconnects early stops the walk: far less than the archive is produced.
func TestBrowseArchiveClientGone(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	chunk := make([]byte, 512<<10)
	const files = 40 // 20 MiB of incompressible data
	for i := range files {
		for j := range chunk {
			chunk[j] = byte(rng.Uint32())
		}
		if err := os.MkdirAll(filepath.Join(dir, "big"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "big", fmt.Sprintf("f%02d", i)), chunk, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &httpserver.Site{Root: dir}
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse {\n servearchive tar\n buffer 64KB\n}"), s)
	if err != nil {
		t.Fatal(err)
	}
	h := adapt(mw(New(s)))
	var sent atomic.Int64
	finished := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		h.ServeHTTP(&countingWriter{ResponseWriter: w, n: &sent}, r)
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/big/?archive=tar")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // closes the connection: the rest is not wanted
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still running 10s after the client left")
	}
	if n := sent.Load(); n >= files*int64(len(chunk)) {
		t.Errorf("the whole archive (%d bytes) was produced for a client that left", n)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// A file that compresses to almost nothing never makes a write to a gone client fail; the request's
// context stops it instead.
func TestBrowseArchiveClientGoneDuringQuietFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "zeros"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "zeros", "sparse.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4 << 30); err != nil { // 4 GiB of zeros: half a minute of bzip2, a few hundred bytes of output
		t.Fatal(err)
	}
	f.Close()
	s := &httpserver.Site{Root: dir}
	mw, err := SetupBrowse(testutil.Dispenser(t, "browse {\n servearchive tar.bz2\n}"), s)
	if err != nil {
		t.Fatal(err)
	}
	h := adapt(mw(New(s)))
	finished := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/zeros/?archive=tar.bz2")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // the walk is inside the big file by now
	resp.Body.Close()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still compressing 5s after the client left")
	}
}
