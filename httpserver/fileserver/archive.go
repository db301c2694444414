package fileserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// archiveCopyBuffer is the size of the chunks copied from the pipe to the client.
const archiveCopyBuffer = 32 << 10

// serveArchive streams directory name (relative to the root, already checked to be a listable
// directory) as an archive of format f. The archive is produced in a goroutine into a buffer of
// Config.BufferSize bytes and copied to the client here; a client that goes away stops the walk.
func (b *Browse) serveArchive(w http.ResponseWriter, r *http.Request, h *rootHandle, name string, f archiveFormat) error {
	top := archiveTopName(r.URL.Path)
	hdr := w.Header()
	hdr.Set("Content-Type", f.mime)
	hdr.Set("Content-Disposition", attachment(top+"."+f.name))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Del("Content-Length")
	if f.name != "tar" {
		// Already compressed: the gzip directive and proxies must not compress it again.
		if cc := hdr.Get("Cache-Control"); cc != "" {
			hdr.Set("Cache-Control", cc+", no-transform")
		} else {
			hdr.Set("Cache-Control", "no-transform")
		}
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	// Send the headers now: the client's download starts (and can be cancelled) even while the first
	// bytes are still being compressed.
	_ = http.NewResponseController(w).Flush()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	pipe := newBufferPipe(b.Config.BufferSize)
	done := make(chan error, 1)
	go func() {
		err := writeArchive(ctx, h, name, top, f, pipe)
		pipe.closeWrite(err)
		done <- err
	}()

	buf := make([]byte, archiveCopyBuffer)
	var copyErr error
	for {
		n, err := pipe.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				copyErr = fmt.Errorf("sending archive: %w", werr)
				break
			}
		}
		if err != nil {
			if err != io.EOF {
				copyErr = err
			}
			break
		}
	}
	pipe.closeRead(copyErr)
	cancel()
	walkErr := <-done
	if copyErr == nil {
		return nil
	}
	if walkErr != nil && !errors.Is(walkErr, context.Canceled) && !errors.Is(walkErr, errReaderGone) {
		copyErr = walkErr
	}
	// The status line is out: the only honest way to report a truncated archive is to cut the
	// connection, so that the client does not take a partial download for a complete one.
	if r.Context().Err() == nil {
		b.abort(copyErr)
	}
	return copyErr
}

// abort drops the client connection; tests replace it to observe the failure instead.
func (b *Browse) abort(err error) {
	if b.abortFn != nil {
		b.abortFn(err)
		return
	}
	panic(http.ErrAbortHandler)
}

// archiveTopName is the name of the download and of the folder inside it: the directory's name, or
// "root" for the site's root.
func archiveTopName(reqPath string) string {
	base := path.Base(path.Clean("/" + reqPath))
	if base == "/" || base == "." || base == "" {
		return "root"
	}
	return base
}

// attachment builds a Content-Disposition header: a quoted ASCII filename, plus an RFC 5987
// filename* when the name has characters a quoted string cannot carry.
func attachment(name string) string {
	plain := true
	var ascii strings.Builder
	for _, c := range name {
		switch {
		case c == '"' || c == '\\' || c < 0x20 || c == 0x7f:
			ascii.WriteByte('_')
			plain = false
		case c >= utf8.RuneSelf:
			ascii.WriteByte('_')
			plain = false
		default:
			ascii.WriteRune(c)
		}
	}
	v := `attachment; filename="` + ascii.String() + `"`
	if !plain {
		v += "; filename*=UTF-8''" + strings.ReplaceAll(url.PathEscape(name), "+", "%2B")
	}
	return v
}

// writeArchive walks directory dir under the root depth-first, in name order, and writes every
// entry the listing would show into an archive of format f on w, under the folder top. Hidden files
// are left out; symbolic links are followed only to regular files inside the root (links to
// directories and links leading outside the root are left out); other special files are skipped.
// Entries that cannot be read (permissions) are skipped too. The walk stops when ctx is done.
func writeArchive(ctx context.Context, h *rootHandle, dir, top string, f archiveFormat, w io.Writer) error {
	aw, err := newArchiveWriter(f, w)
	if err != nil {
		return fmt.Errorf("starting %s archive: %w", f.name, err)
	}
	info, err := h.root.Stat(dir)
	if err != nil {
		return err
	}
	if err := aw.dir(top+"/", info); err != nil {
		return err
	}
	if err := walkArchive(ctx, h, dir, top, aw); err != nil {
		return err
	}
	return aw.Close()
}

func walkArchive(ctx context.Context, h *rootHandle, dir, prefix string, aw archiveWriter) error {
	d, err := h.root.Open(dir)
	if err != nil {
		return nil // unreadable: left out
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		full := path.Join(dir, e.Name())
		inName := prefix + "/" + e.Name()
		if !utf8.ValidString(e.Name()) {
			continue // names the file server could not serve either
		}
		switch t := e.Type(); {
		case t.IsDir():
			info, err := e.Info()
			if err != nil || h.isHidden(full, info) {
				continue
			}
			if err := aw.dir(inName+"/", info); err != nil {
				return err
			}
			if err := walkArchive(ctx, h, full, inName, aw); err != nil {
				return err
			}
		case t.IsRegular() || t&fs.ModeSymlink != 0:
			if err := addArchiveFile(ctx, h, full, inName, aw); err != nil {
				return err
			}
		}
	}
	return nil
}

// addArchiveFile adds regular file full, or the regular file a link inside the root points to.
// Only errors writing the archive are returned; files that cannot be read are left out.
func addArchiveFile(ctx context.Context, h *rootHandle, full, inName string, aw archiveWriter) error {
	info, err := h.root.Stat(full) // follows links, refusing those that leave the root
	if err != nil || !info.Mode().IsRegular() || h.isHidden(full, info) {
		return nil
	}
	file, err := h.root.Open(full)
	if err != nil {
		return nil
	}
	defer file.Close()
	info, err = file.Stat() // the opened file itself, in case it was replaced meanwhile
	if err != nil || !info.Mode().IsRegular() || h.isHidden(full, info) {
		return nil
	}
	// Checking ctx on every read stops a file that compresses to almost nothing (and so never makes
	// the handler notice the client is gone by a failed write) as soon as the request ends.
	if err := aw.file(inName, info, ctxReader{ctx, file}); err != nil {
		return fmt.Errorf("archiving %s: %w", full, err)
	}
	return nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ArchiveLink is a link to download the listed directory as an archive.
type ArchiveLink struct {
	Format string // "zip", "tar.gz", ...
	URL    string // relative: "?archive=tar.gz"
}
