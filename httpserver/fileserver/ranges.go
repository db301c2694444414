package fileserver

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// maxRanges is the most ranges one request may ask for; a longer Range header is ignored.
const maxRanges = 100

// byteRange is one satisfiable range: length bytes from start.
type byteRange struct{ start, length int64 }

func (br byteRange) contentRange(size string) string {
	return "bytes " + strconv.FormatInt(br.start, 10) + "-" + strconv.FormatInt(br.start+br.length-1, 10) + "/" + size
}

// parseRange interprets a Range header for a representation of size bytes (RFC 9110 §14.2). It returns
// 206 with the satisfiable ranges, 416 when none is satisfiable, or 200 when the header must be ignored:
// an unknown unit, a syntax error, too many ranges, or ranges adding up to more than the whole (a
// response bigger than the file helps nobody and costs the server).
func parseRange(s string, size int64) ([]byteRange, int) {
	const prefix = "bytes="
	if len(s) < len(prefix) || !equalFold(s[:len(prefix)], prefix) {
		return nil, http.StatusOK
	}
	var ranges []byteRange
	var total int64
	n, unsatisfiable := 0, false
	for _, spec := range strings.Split(s[len(prefix):], ",") {
		spec = trimOWS(spec)
		if spec == "" {
			continue
		}
		if n++; n > maxRanges {
			return nil, http.StatusOK
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, http.StatusOK
		}
		first, last = trimOWS(first), trimOWS(last)
		var br byteRange
		if first == "" { // suffix range: the last N bytes
			k, ok := parseDigits(last)
			if !ok {
				return nil, http.StatusOK
			}
			if k == 0 {
				unsatisfiable = true
				continue
			}
			k = min(k, size)
			br = byteRange{size - k, k}
		} else {
			a, ok := parseDigits(first)
			if !ok {
				return nil, http.StatusOK
			}
			end := size - 1
			if last != "" {
				b, ok := parseDigits(last)
				if !ok || b < a {
					return nil, http.StatusOK
				}
				end = min(b, size-1)
			}
			if a >= size {
				unsatisfiable = true
				continue
			}
			br = byteRange{a, end - a + 1}
		}
		total += br.length
		ranges = append(ranges, br)
	}
	switch {
	case len(ranges) == 0 && unsatisfiable:
		return nil, http.StatusRequestedRangeNotSatisfiable
	case len(ranges) == 0, total > size:
		return nil, http.StatusOK
	}
	return ranges, http.StatusPartialContent
}

// parseDigits parses a non-negative decimal number of at most 18 digits.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// serveRanges writes a 206 response: the range itself when there is one, multipart/byteranges when
// there are several. The body comes from m.content or, when that is nil, from f.
func serveRanges(w http.ResponseWriter, m *fileMeta, f *os.File, ranges []byteRange) error {
	hdr := w.Header()
	if len(ranges) == 1 {
		br := ranges[0]
		hdr.Set("Content-Range", br.contentRange(m.hLength[0]))
		hdr.Set("Content-Length", strconv.FormatInt(br.length, 10))
		w.WriteHeader(http.StatusPartialContent)
		return writeRange(w, m, f, br)
	}
	boundary := randomBoundary()
	ctype := m.ctype
	if v := hdr.Get("Content-Type"); v != "" {
		ctype = v
	}
	partHeader := func(br byteRange) string {
		return "\r\n--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " +
			br.contentRange(m.hLength[0]) + "\r\n\r\n"
	}
	closing := "\r\n--" + boundary + "--\r\n"
	length := int64(len(closing))
	for _, br := range ranges {
		length += int64(len(partHeader(br))) + br.length
	}
	hdr.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(http.StatusPartialContent)
	for _, br := range ranges {
		if _, err := io.WriteString(w, partHeader(br)); err != nil {
			return err
		}
		if err := writeRange(w, m, f, br); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, closing)
	return err
}

func writeRange(w io.Writer, m *fileMeta, f *os.File, br byteRange) error {
	if m.content != nil {
		_, err := w.Write(m.content[br.start : br.start+br.length])
		return err
	}
	if _, err := f.Seek(br.start, io.SeekStart); err != nil {
		return err
	}
	_, err := io.CopyN(w, f, br.length)
	return err
}

func randomBoundary() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
