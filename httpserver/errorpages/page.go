package errorpages

import (
	"mime"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// page is an error page file, cached in memory and reloaded when its size or modification time changes.
type page struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	body    []byte
}

// load returns the page's content, reading the file again only if it changed.
func (p *page) load() ([]byte, error) {
	fi, err := os.Stat(p.path)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.body != nil && fi.ModTime().Equal(p.modTime) && fi.Size() == p.size {
		return p.body, nil
	}
	body, err := os.ReadFile(p.path)
	if err != nil {
		return nil, err
	}
	p.body, p.modTime, p.size = body, fi.ModTime(), fi.Size()
	return body, nil
}

// contentType is the page's type from its extension, HTML when unknown.
func (p *page) contentType() string {
	if t := mime.TypeByExtension(filepath.Ext(p.path)); t != "" {
		return t
	}
	return "text/html; charset=utf-8"
}
