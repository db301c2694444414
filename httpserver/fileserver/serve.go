package fileserver

import (
	"io"
	"net/http"
	"os"
	"time"

	"github.com/casketserver/casket/httpserver"
)

// Shared one-element header values. Their capacity is 1, so Header.Add copies instead of writing into
// them; nothing may assign to their elements.
var (
	hdrAcceptRanges = []string{"bytes"}
	hdrVaryAE       = []string{"Accept-Encoding"}
)

// serveFile writes m (or the precompressed sibling the client prefers) with validators, honouring
// conditional and range requests. Small files are written from memory in one Write.
func (fsrv *FileServer) serveFile(w http.ResponseWriter, r *http.Request, m *fileMeta) error {
	hdr := w.Header()
	if len(m.variants) > 0 {
		addVary(hdr)
		if ae := r.Header["Accept-Encoding"]; len(ae) > 0 {
			if v := pickVariant(ae, m.variants); v != nil {
				m = v
			}
		}
	}
	var f *os.File
	if m.content == nil {
		var err error
		if f, m, err = fsrv.openFile(m); err != nil {
			return fsrv.fail(w, err)
		}
		defer f.Close()
	}
	hdr["Etag"] = m.hETag
	hdr["Last-Modified"] = m.hLastMod
	switch m.preconditions(r) {
	case http.StatusNotModified:
		w.WriteHeader(http.StatusNotModified)
		return nil
	case http.StatusPreconditionFailed:
		return httpserver.Error(http.StatusPreconditionFailed, nil)
	}
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = m.hType
	}
	hdr["Accept-Ranges"] = hdrAcceptRanges
	if m.encoding != "" {
		hdr["Content-Encoding"] = m.hEncoding
	}
	if rh := r.Header["Range"]; len(rh) > 0 && r.Method == http.MethodGet && m.size > 0 && m.ifRange(r) {
		ranges, status := parseRange(rh[0], m.size)
		switch status {
		case http.StatusPartialContent:
			return serveRanges(w, m, f, ranges)
		case http.StatusRequestedRangeNotSatisfiable:
			hdr.Del("Content-Type")
			hdr.Del("Content-Encoding") // the error body is not encoded
			hdr.Set("Content-Range", "bytes */"+m.hLength[0])
			return httpserver.Error(http.StatusRequestedRangeNotSatisfiable, nil)
		}
	}
	hdr["Content-Length"] = m.hLength
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if m.content != nil {
		_, err := w.Write(m.content)
		return err
	}
	_, err := io.CopyN(w, f, m.size)
	return err
}

// addVary adds Accept-Encoding to the Vary header unless it is there already.
func addVary(hdr http.Header) {
	vals, ok := hdr["Vary"]
	if !ok {
		hdr["Vary"] = hdrVaryAE
		return
	}
	for _, v := range vals {
		if containsToken(v, "Accept-Encoding") {
			return
		}
	}
	hdr["Vary"] = append(vals, "Accept-Encoding")
}

// preconditions evaluates the conditional request headers in the order of RFC 9110 §13.2.2 and returns
// 304, 412, or 0 to serve normally.
func (m *fileMeta) preconditions(r *http.Request) int {
	h := r.Header
	if im := h["If-Match"]; len(im) > 0 {
		if !etagListMatch(im, m.etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius := h["If-Unmodified-Since"]; len(ius) > 0 && ius[0] != m.lastMod {
		if t, err := http.ParseTime(ius[0]); err == nil && m.modTime.Truncate(time.Second).After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := h["If-None-Match"]; len(inm) > 0 {
		if etagListMatch(inm, m.etag, false) {
			return http.StatusNotModified
		}
	} else if ims := h["If-Modified-Since"]; len(ims) > 0 {
		if ims[0] == m.lastMod {
			return http.StatusNotModified
		}
		if t, err := http.ParseTime(ims[0]); err == nil && !m.modTime.Truncate(time.Second).After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// ifRange reports whether a Range header should be honoured given If-Range: it must be absent, equal the
// (strong) entity tag, or equal the modification date.
func (m *fileMeta) ifRange(r *http.Request) bool {
	ir := r.Header["If-Range"]
	if len(ir) == 0 {
		return true
	}
	v := trimOWS(ir[0])
	if len(v) > 0 && (v[0] == '"' || (len(v) > 1 && v[:2] == "W/")) {
		return v == m.etag
	}
	if v == m.lastMod {
		return true
	}
	t, err := http.ParseTime(v)
	return err == nil && t.Equal(m.modTime.Truncate(time.Second))
}

// etagListMatch reports whether a list of entity tags (header values, each possibly comma-separated, or
// "*") matches etag, using strong or weak comparison.
func etagListMatch(vals []string, etag string, strong bool) bool {
	for _, list := range vals {
		for list != "" {
			var tag string
			tag, list = nextETag(list)
			if tag == "*" {
				return true
			}
			if len(tag) > 1 && tag[:2] == "W/" {
				if strong {
					continue
				}
				tag = tag[2:]
			}
			if tag == etag {
				return true
			}
		}
	}
	return false
}

// nextETag splits the first entity tag off a comma-separated list.
func nextETag(s string) (tag, rest string) {
	s = trimOWS(s)
	for len(s) > 0 && s[0] == ',' {
		s = trimOWS(s[1:])
	}
	i := 0
	if len(s) > 1 && s[:2] == "W/" {
		i = 2
	}
	if i < len(s) && s[i] == '"' {
		end := i + 1
		for end < len(s) && s[end] != '"' {
			end++
		}
		if end < len(s) {
			end++
		}
		return s[:end], s[end:]
	}
	for i < len(s) && s[i] != ',' {
		i++
	}
	return trimOWS(s[:i]), s[i:]
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// containsToken reports whether the comma-separated header value v contains token (case-insensitive).
func containsToken(v, token string) bool {
	for v != "" {
		var t string
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		t, v = trimOWS(v[:i]), v[min(i+1, len(v)):]
		if equalFold(t, token) || t == "*" {
			return true
		}
	}
	return false
}

// equalFold is an ASCII-only strings.EqualFold.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
