package fileserver

import (
	"archive/tar"
	"archive/zip"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// DefaultArchiveBufferSize is how much of an archive may be produced ahead of a slow client (10 MiB).
const DefaultArchiveBufferSize = 10 << 20

// archiveFormat is one format `servearchive` can offer: its name is both the `?archive=` value and
// the download's file extension. Compressed tars are served with the media type of their compression
// (what a .tar.gz file is served as), so that clients and the gzip directive see compressed data.
type archiveFormat struct {
	name string
	mime string
	// compress wraps w in the format's compressor; nil for zip and plain tar.
	compress func(w io.Writer) (io.WriteCloser, error)
}

// archiveFormats lists every format, in the order `servearchive` without arguments enables them.
var archiveFormats = []archiveFormat{
	{name: "zip", mime: "application/zip"},
	{name: "tar", mime: "application/x-tar"},
	{name: "tar.gz", mime: "application/gzip", compress: func(w io.Writer) (io.WriteCloser, error) {
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	}},
	{name: "tar.xz", mime: "application/x-xz", compress: func(w io.Writer) (io.WriteCloser, error) {
		// A 4 MiB dictionary instead of the default 8 MiB bounds the memory of each download.
		return xz.WriterConfig{DictCap: 4 << 20}.NewWriter(w)
	}},
	{name: "tar.br", mime: "application/x-brotli", compress: func(w io.Writer) (io.WriteCloser, error) {
		return brotli.NewWriterLevel(w, 3), nil
	}},
	{name: "tar.bz2", mime: "application/x-bzip2", compress: func(w io.Writer) (io.WriteCloser, error) {
		return bzip2.NewWriter(w, &bzip2.WriterConfig{Level: 6})
	}},
	{name: "tar.lz4", mime: "application/x-lz4", compress: func(w io.Writer) (io.WriteCloser, error) {
		zw := lz4.NewWriter(w)
		if err := zw.Apply(lz4.ConcurrencyOption(1), lz4.CompressionLevelOption(lz4.Fast)); err != nil {
			return nil, err
		}
		return zw, nil
	}},
	{name: "tar.sz", mime: "application/x-snappy-framed", compress: func(w io.Writer) (io.WriteCloser, error) {
		// The Snappy framing format, which snappy tools and libraries read.
		return s2.NewWriter(w, s2.WriterSnappyCompat(), s2.WriterConcurrency(1)), nil
	}},
	{name: "tar.zst", mime: "application/zstd", compress: func(w io.Writer) (io.WriteCloser, error) {
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	}},
}

// lookupArchiveFormat returns the format called name.
func lookupArchiveFormat(name string) (archiveFormat, bool) {
	for _, f := range archiveFormats {
		if f.name == name {
			return f, true
		}
	}
	return archiveFormat{}, false
}

// ArchiveFormatNames returns the names of every format `servearchive` accepts, in their default order.
func ArchiveFormatNames() []string {
	out := make([]string, len(archiveFormats))
	for i, f := range archiveFormats {
		out[i] = f.name
	}
	return out
}

// archiveWriter adds entries to an archive being streamed.
type archiveWriter interface {
	// dir adds a directory entry; name is slash-separated and ends with "/".
	dir(name string, info fs.FileInfo) error
	// file adds a regular file of info.Size() bytes read from r.
	file(name string, info fs.FileInfo, r io.Reader) error
	// Close finishes the archive and its compression (not the underlying writer).
	Close() error
}

// newArchiveWriter starts an archive of format f on w.
func newArchiveWriter(f archiveFormat, w io.Writer) (archiveWriter, error) {
	if f.name == "zip" {
		zw := zip.NewWriter(w)
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, flate.DefaultCompression)
		})
		return &zipArchive{zw: zw}, nil
	}
	tw := &tarArchive{}
	if f.compress != nil {
		c, err := f.compress(w)
		if err != nil {
			return nil, err
		}
		tw.comp = c
		w = c
	}
	tw.tw = tar.NewWriter(w)
	return tw, nil
}

// tarArchive writes a tar stream, optionally through a compressor. Headers carry names, permission
// bits, sizes and times only: no owner names or ids of the server's accounts.
type tarArchive struct {
	tw   *tar.Writer
	comp io.WriteCloser
}

func (a *tarArchive) dir(name string, info fs.FileInfo) error {
	return a.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeDir,
		Name:     name,
		Mode:     int64(info.Mode().Perm()),
		ModTime:  info.ModTime().Truncate(time.Second),
	})
}

func (a *tarArchive) file(name string, info fs.FileInfo, r io.Reader) error {
	err := a.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     info.Size(),
		Mode:     int64(info.Mode().Perm()),
		ModTime:  info.ModTime().Truncate(time.Second),
	})
	if err != nil {
		return err
	}
	// Exactly the size in the header: a file that grew meanwhile is cut there; one that shrank fails
	// the archive (io.ErrUnexpectedEOF), since tar cannot announce a smaller size after the fact.
	n, err := io.CopyN(a.tw, r, info.Size())
	if err == io.EOF && n < info.Size() {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (a *tarArchive) Close() error {
	err := a.tw.Close()
	if a.comp != nil {
		if cerr := a.comp.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// zipArchive writes a zip stream: sizes and checksums follow each entry in data descriptors, so
// nothing needs to be known in advance. Files that are already compressed are stored, others deflated.
type zipArchive struct {
	zw *zip.Writer
}

func (a *zipArchive) dir(name string, info fs.FileInfo) error {
	h := &zip.FileHeader{Name: name, Method: zip.Store, Modified: info.ModTime()}
	h.SetMode(info.Mode().Perm() | fs.ModeDir)
	_, err := a.zw.CreateHeader(h)
	return err
}

func (a *zipArchive) file(name string, info fs.FileInfo, r io.Reader) error {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: info.ModTime()}
	if precompressed(name) {
		h.Method = zip.Store
	}
	h.SetMode(info.Mode().Perm())
	w, err := a.zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.CopyN(w, r, info.Size())
	if err == io.EOF {
		err = nil // zip records the size actually written
	}
	return err
}

func (a *zipArchive) Close() error { return a.zw.Close() }

// precompressed reports whether a file name's extension marks data that deflate would not shrink.
func precompressed(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".7z", ".avif", ".br", ".bz2", ".flac", ".gif", ".gz", ".heic", ".jpeg", ".jpg", ".lz4",
		".m4a", ".m4v", ".mkv", ".mov", ".mp3", ".mp4", ".ogg", ".opus", ".png", ".rar", ".sz", ".tgz",
		".webm", ".webp", ".woff", ".woff2", ".xz", ".zip", ".zst":
		return true
	}
	return false
}
