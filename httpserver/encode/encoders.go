package encode

import (
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoder is what the three compressors have in common.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(w io.Writer)
}

// zstdWindow bounds the memory of pooled zstd encoders and stays well under the 8 MB browsers accept.
const zstdWindow = 1 << 20

// pools keeps reusable encoders of one handler (one level) per coding.
type pools struct {
	gzip, brotli, zstd sync.Pool
}

func newPools(level int) *pools {
	p := &pools{}
	p.gzip.New = func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, level) // level is validated to 1-9
		return w
	}
	p.brotli.New = func() any {
		// Brotli's scale is 0-11 and its high qualities are too slow on the fly: level 6 → quality 5.
		return brotli.NewWriterLevel(io.Discard, level-1)
	}
	p.zstd.New = func() any {
		w, _ := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstdLevel(level)),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdWindow),
		)
		return w
	}
	return p
}

func zstdLevel(level int) zstd.EncoderLevel {
	switch {
	case level <= 3:
		return zstd.SpeedFastest
	case level <= 6:
		return zstd.SpeedDefault
	case level <= 8:
		return zstd.SpeedBetterCompression
	}
	return zstd.SpeedBestCompression
}

func (p *pools) pool(coding string) *sync.Pool {
	switch coding {
	case codingZstd:
		return &p.zstd
	case codingBrotli:
		return &p.brotli
	}
	return &p.gzip
}

// get returns an encoder for coding writing to w.
func (p *pools) get(coding string, w io.Writer) encoder {
	enc := p.pool(coding).Get().(encoder)
	enc.Reset(w)
	return enc
}

// put returns a closed encoder to its pool, detached from the response.
func (p *pools) put(coding string, enc encoder) {
	enc.Reset(io.Discard)
	p.pool(coding).Put(enc)
}
