package fileserver

import (
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Cache limits. Small files are kept in memory whole; larger ones are read from disk on each request
// (with sendfile where the connection allows it).
const (
	smallFileMax    = 256 << 10 // files up to this size are cached in memory
	cacheMaxEntries = 50000     // past this many entries new files are served without caching
	cacheMaxBytes   = 64 << 20  // total bytes of file content kept in memory
	defaultRecheck  = time.Second
)

// encodings are the precompressed siblings looked for next to each file, in order of preference.
var encodings = [...]struct{ suffix, name string }{
	{".zst", "zstd"},
	{".br", "br"},
	{".gz", "gzip"},
}

// fileMeta is what the server knows about one name under the root: the stat result, the response
// headers prepared once, and for small files the content. It is immutable once published, apart from
// checked.
type fileMeta struct {
	name    string
	root    *rootHandle // the root it was read from
	size    int64
	modTime time.Time
	info    os.FileInfo
	isDir   bool
	regular bool
	hidden  bool

	index string // directories: name of the first index file present, "" if none

	etag    string
	lastMod string
	ctype   string
	content []byte // whole content of small files; nil otherwise

	// Header values, each a one-element slice with cap 1 so that a later Add never writes into them.
	hETag, hLastMod, hType, hLength, hEncoding []string

	encoding string      // for a precompressed sibling: its Content-Encoding
	variants []*fileMeta // precompressed siblings present, in order of preference

	checked atomic.Int64 // unix nanoseconds of the last validation
}

// metaCache maps names to fileMeta, re-validating each entry at most once per recheck interval.
type metaCache struct {
	recheck time.Duration
	indexes func() []string

	m       sync.Map // string → *fileMeta
	entries atomic.Int64
	bytes   atomic.Int64
}

func newMetaCache(indexes func() []string) *metaCache {
	return &metaCache{recheck: defaultRecheck, indexes: indexes}
}

// lookup returns the metadata of name under h, from the cache when it is fresh enough.
func (c *metaCache) lookup(h *rootHandle, name string, now int64) (*fileMeta, error) {
	v, ok := c.m.Load(name)
	var old *fileMeta
	if ok {
		old = v.(*fileMeta)
		if old.root == h && now-old.checked.Load() < int64(c.recheck) {
			return old, nil
		}
	}
	m, err := c.build(h, name, old)
	if err != nil {
		if old != nil && c.m.CompareAndDelete(name, old) {
			c.entries.Add(-1)
			c.bytes.Add(-old.memSize())
		}
		return nil, err
	}
	m.checked.Store(now)
	if old != nil {
		if c.m.CompareAndSwap(name, old, m) {
			c.bytes.Add(m.memSize() - old.memSize())
		}
		return m, nil
	}
	if c.entries.Load() < cacheMaxEntries {
		if _, loaded := c.m.LoadOrStore(name, m); !loaded {
			c.entries.Add(1)
			c.bytes.Add(m.memSize())
		}
	}
	return m, nil
}

// sameFile reports whether old describes the same unchanged file as info.
func sameFile(old *fileMeta, info os.FileInfo) bool {
	return old != nil && old.info != nil && old.size == info.Size() && old.modTime.Equal(info.ModTime()) &&
		os.SameFile(old.info, info)
}

// build reads the metadata of name. old, if not nil, is the previous metadata: unchanged content is
// reused rather than read again.
func (c *metaCache) build(h *rootHandle, name string, old *fileMeta) (*fileMeta, error) {
	info, err := h.stat(name)
	if err != nil {
		return nil, err
	}
	m := &fileMeta{name: name, root: h}
	m.fill(info)
	m.hidden = h.isHidden(name, info)
	switch {
	case m.hidden:
	case m.isDir:
		m.index = c.findIndex(h, name)
	case m.regular:
		if err := c.loadFile(h, m, old); err != nil {
			return nil, err
		}
		for _, enc := range encodings {
			var oldV *fileMeta
			if old != nil {
				oldV = old.variant(enc.name)
			}
			if v := c.buildVariant(h, name+enc.suffix, enc.name, m.ctype, oldV); v != nil {
				m.variants = append(m.variants, v)
			}
		}
	}
	return m, nil
}

// memSize is the number of content bytes m and its variants keep in memory.
func (m *fileMeta) memSize() int64 {
	n := int64(len(m.content))
	for _, v := range m.variants {
		n += int64(len(v.content))
	}
	return n
}

// variant returns the precompressed sibling with Content-Encoding enc, or nil.
func (m *fileMeta) variant(enc string) *fileMeta {
	for _, v := range m.variants {
		if v.encoding == enc {
			return v
		}
	}
	return nil
}

func (m *fileMeta) fill(info os.FileInfo) {
	m.info = info
	m.size = info.Size()
	m.modTime = info.ModTime()
	m.isDir = info.IsDir()
	m.regular = info.Mode().IsRegular()
}

// buildVariant returns the metadata of a precompressed sibling, or nil if there is none.
func (c *metaCache) buildVariant(h *rootHandle, name, enc, ctype string, old *fileMeta) *fileMeta {
	info, err := h.stat(name)
	if err != nil || !info.Mode().IsRegular() || h.isHidden(name, info) {
		return nil
	}
	v := &fileMeta{name: name, root: h, encoding: enc, ctype: ctype}
	v.fill(info)
	if err := c.loadFile(h, v, old); err != nil {
		return nil
	}
	v.hEncoding = []string{enc}
	return v
}

// loadFile fills in the headers of a regular file and, for a small file, reads its content. When old
// describes the same file, its content and type are reused.
func (c *metaCache) loadFile(h *rootHandle, m *fileMeta, old *fileMeta) error {
	if sameFile(old, m.info) {
		m.content = old.content
		if m.ctype == "" {
			m.ctype = old.ctype
		}
	} else {
		if m.ctype == "" {
			m.ctype = mime.TypeByExtension(path.Ext(m.name))
		}
		if m.size <= smallFileMax || m.ctype == "" {
			if err := c.read(h, m); err != nil {
				return err
			}
		}
	}
	m.prepareHeaders()
	return nil
}

// prepareHeaders computes the validators and header values of a regular file from its stat result.
func (m *fileMeta) prepareHeaders() {
	m.etag = makeETag(m.modTime, m.size, m.encoding)
	m.lastMod = m.modTime.UTC().Format(http.TimeFormat)
	m.hETag = []string{m.etag}
	m.hLastMod = []string{m.lastMod}
	m.hType = []string{m.ctype}
	m.hLength = []string{strconv.FormatInt(m.size, 10)}
}

// read opens m's file and reads it whole if it is small (and the memory budget allows), or its first
// 512 bytes to sniff the content type. The stat of the open file replaces m's, so content and
// metadata agree.
func (c *metaCache) read(h *rootHandle, m *fileMeta) error {
	f, err := h.root.Open(m.name)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	m.fill(info)
	if !m.regular {
		return os.ErrNotExist
	}
	small := m.size <= smallFileMax && c.bytes.Load()+m.size <= cacheMaxBytes
	n := m.size
	if !small {
		n = min(n, 512)
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	buf = buf[:k]
	if small {
		m.content = buf
		m.size = int64(k)
	}
	if m.ctype == "" {
		m.ctype = http.DetectContentType(buf)
	}
	return nil
}

// findIndex returns the name of the first index file present in directory dir.
func (c *metaCache) findIndex(h *rootHandle, dir string) string {
	for _, idx := range c.indexes() {
		name := idx
		if dir != "." {
			name = dir + "/" + idx
		}
		if h.exists(name, false) {
			return name
		}
	}
	return ""
}

// makeETag builds a strong entity tag from the modification time and size (and the encoding of a
// precompressed sibling, so that each representation has its own tag).
func makeETag(mod time.Time, size int64, enc string) string {
	b := make([]byte, 0, 40)
	b = append(b, '"')
	b = strconv.AppendInt(b, mod.UnixNano(), 36)
	b = append(b, '-')
	b = strconv.AppendInt(b, size, 36)
	if enc != "" {
		b = append(b, '-')
		b = append(b, enc...)
	}
	b = append(b, '"')
	return string(b)
}
