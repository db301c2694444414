package fileserver

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCodingQ(t *testing.T) {
	tests := []struct {
		header []string
		coding string
		want   int
	}{
		{[]string{"gzip"}, "gzip", 1000},
		{[]string{"gzip;q=0.5"}, "gzip", 500},
		{[]string{"gzip; q=0.25"}, "gzip", 250},
		{[]string{"gzip;q=0"}, "gzip", 0},
		{[]string{"gzip;q=0.000"}, "gzip", 0},
		{[]string{"gzip;q=1.0"}, "gzip", 1000},
		{[]string{"GZIP"}, "gzip", 1000},
		{[]string{"x-gzip"}, "gzip", 1000},
		{[]string{"br", "zstd;q=0.9"}, "zstd", 900},
		{[]string{"*;q=0.1"}, "br", 100},
		{[]string{"*", "br;q=0"}, "br", 0},
		{[]string{"deflate"}, "br", 0},
		{[]string{" , ,br"}, "br", 1000},
		{[]string{"identity"}, "zstd", 0},
	}
	for _, tt := range tests {
		if got := codingQ(tt.header, tt.coding); got != tt.want {
			t.Errorf("codingQ(%q, %s) = %d, want %d", tt.header, tt.coding, got, tt.want)
		}
	}
}

func TestAddVary(t *testing.T) {
	tests := []struct {
		have, want []string
	}{
		{nil, []string{"Accept-Encoding"}},
		{[]string{"Cookie"}, []string{"Cookie", "Accept-Encoding"}},
		{[]string{"Origin, accept-encoding"}, []string{"Origin, accept-encoding"}},
		{[]string{"*"}, []string{"*"}},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.have != nil {
			h["Vary"] = tt.have
		}
		addVary(h)
		if !reflect.DeepEqual(h["Vary"], tt.want) {
			t.Errorf("Vary %q → %q, want %q", tt.have, h["Vary"], tt.want)
		}
	}
	// The shared value must not be written through by a later Add.
	h := http.Header{}
	addVary(h)
	h.Add("Vary", "Cookie")
	if hdrVaryAE[0] != "Accept-Encoding" || len(hdrVaryAE) != 1 {
		t.Fatalf("shared Vary value modified: %q", hdrVaryAE)
	}
}

func TestIfRangeDate(t *testing.T) {
	mod := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	m := &fileMeta{modTime: mod, size: 10, regular: true}
	m.prepareHeaders()
	tests := []struct {
		ifRange string
		want    bool
	}{
		{"", true},
		{m.etag, true},
		{"W/" + m.etag, false},
		{`"other"`, false},
		{m.lastMod, true},
		{mod.Add(time.Second).Format(http.TimeFormat), false},
		{"garbage", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.ifRange != "" {
			r.Header.Set("If-Range", tt.ifRange)
		}
		if got := m.ifRange(r); got != tt.want {
			t.Errorf("If-Range %q: %v, want %v", tt.ifRange, got, tt.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		header     string
		size       int64
		want       []byteRange
		wantStatus int
	}{
		{"bytes=0-0", 10, []byteRange{{0, 1}}, 206},
		{"bytes=0-0,-1", 10, []byteRange{{0, 1}, {9, 1}}, 206},
		{"Bytes=2-3", 10, []byteRange{{2, 2}}, 206},
		{"bytes= 2-3 , 5-6 ", 10, []byteRange{{2, 2}, {5, 2}}, 206},
		{"bytes=10-20", 10, nil, 416},
		{"bytes=-0", 10, nil, 416},
		{"bytes=10-20,2-3", 10, []byteRange{{2, 2}}, 206},
		{"bytes=", 10, nil, 200},
		{"bytes=1", 10, nil, 200},
		{"bytes=-", 10, nil, 200},
		{"bytes=99999999999999999999-", 10, nil, 200},
		{"bytes=0-9,0-9", 10, nil, 200},
	}
	for _, tt := range tests {
		got, status := parseRange(tt.header, tt.size)
		if status != tt.wantStatus || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseRange(%q, %d) = %v %d, want %v %d", tt.header, tt.size, got, status, tt.want, tt.wantStatus)
		}
	}
	many := "bytes=0-0"
	for i := 0; i < maxRanges; i++ {
		many += ",0-0"
	}
	if _, status := parseRange(many, 1000); status != 200 {
		t.Errorf("%d ranges: status %d, want 200 (ignored)", maxRanges+1, status)
	}
}

// FuzzCleanName checks that no request path yields a name that climbs out of the root.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"/", "/a/../../b", "/..", "/a\\..", "/%2e%2e", "//x", "/./.", "/\xc0\xae"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, _, ok := cleanName(p)
		if !ok {
			return
		}
		if name == "" || strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") ||
			strings.Contains(name, "/../") || strings.HasSuffix(name, "/..") || strings.ContainsAny(name, "\x00\\") {
			t.Fatalf("cleanName(%q) = %q", p, name)
		}
		if !fs.ValidPath(name) {
			t.Fatalf("cleanName(%q) = %q, not a valid fs path", p, name)
		}
	})
}
