package fileserver

import (
	"errors"
	"io"
	"sync"
)

// minPipeBuffer is the first allocation of a pipe's buffer; it doubles as needed up to the limit.
const minPipeBuffer = 32 << 10

// bufferPipe is an in-memory pipe holding up to max bytes: the archive producer writes into it while
// the handler copies it to the client, so compression runs ahead of a slow client by at most max
// bytes. The buffer grows on demand, so a fast client never makes it allocate the whole limit.
type bufferPipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte // ring buffer
	head int    // index of the first unread byte
	n    int    // bytes buffered
	max  int

	werr error // set when the writer is done: io.EOF or its failure
	rerr error // set when the reader is gone
}

func newBufferPipe(max int) *bufferPipe {
	if max <= 0 {
		max = DefaultArchiveBufferSize
	}
	p := &bufferPipe{max: max}
	p.cond.L = &p.mu
	return p
}

// Write blocks while the buffer is full; it fails once the reader has gone.
func (p *bufferPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	written := 0
	for len(b) > 0 {
		for p.rerr == nil && p.n == len(p.buf) && len(p.buf) >= p.max {
			p.cond.Wait()
		}
		if p.rerr != nil {
			return written, p.rerr
		}
		if p.n == len(p.buf) {
			p.grow()
		}
		tail := (p.head + p.n) % len(p.buf)
		end := len(p.buf)
		if tail < p.head {
			end = p.head
		}
		c := copy(p.buf[tail:end], b)
		p.n += c
		written += c
		b = b[c:]
		p.cond.Broadcast()
	}
	return written, nil
}

// grow doubles the buffer (within max), keeping its contents in order.
func (p *bufferPipe) grow() {
	size := max(2*len(p.buf), minPipeBuffer)
	size = min(size, p.max)
	nb := make([]byte, size)
	first := copy(nb, p.buf[p.head:min(p.head+p.n, len(p.buf))])
	copy(nb[first:], p.buf[:p.n-first])
	p.buf, p.head = nb, 0
}

// Read blocks until data is buffered or the writer is done.
func (p *bufferPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 && p.werr == nil && p.rerr == nil {
		p.cond.Wait()
	}
	if p.rerr != nil {
		return 0, p.rerr
	}
	if p.n == 0 {
		return 0, p.werr
	}
	end := min(p.head+p.n, len(p.buf))
	c := copy(b, p.buf[p.head:end])
	p.head = (p.head + c) % len(p.buf)
	p.n -= c
	p.cond.Broadcast()
	return c, nil
}

// closeWrite ends the stream: readers get err after the buffered data, io.EOF when err is nil.
func (p *bufferPipe) closeWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	p.mu.Lock()
	if p.werr == nil {
		p.werr = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// closeRead makes pending and later writes fail with err (errReaderGone when nil) and frees the buffer.
func (p *bufferPipe) closeRead(err error) {
	if err == nil {
		err = errReaderGone
	}
	p.mu.Lock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.buf, p.n, p.head = nil, 0, 0
	p.cond.Broadcast()
	p.mu.Unlock()
}

var errReaderGone = errors.New("archive reader closed")
