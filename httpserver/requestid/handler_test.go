package requestid

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// serve runs request_id (src) for a request with the given header and returns {request_id} as next
// saw it.
func serve(t *testing.T, src string, header map[string]string) string {
	t.Helper()
	mw, err := Setup(testutil.Dispenser(t, src), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := mw(httpserver.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got = httpserver.NewReplacer(r, "-").Replace("{request_id}")
		return nil
	}))
	r := httptest.NewRequest("GET", "/", nil)
	u := *r.URL
	r = httpserver.WithRequestInfo(r, &httpserver.RequestInfo{OriginalURL: &u})
	for k, v := range header {
		r.Header.Set(k, v)
	}
	if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRequestIDServeHTTP(t *testing.T) {
	const given = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
	const canonical = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	tests := []struct {
		name   string
		src    string
		header map[string]string
		want   string // "" means: a fresh UUIDv4
	}{
		{name: "fresh", src: "request_id"},
		{name: "header ignored when not trusted", src: "request_id", header: map[string]string{"X-Request-Id": given}},
		{name: "trusted header used", src: "request_id X-Request-ID", header: map[string]string{"X-Request-Id": given}, want: canonical},
		{name: "trusted header without dashes", src: "request_id X-Request-ID", header: map[string]string{"X-Request-Id": "3f2504e04f8911d39a0c0305e82c3301"}, want: canonical},
		{name: "trusted header absent", src: "request_id X-Request-ID"},
		{name: "trusted header not a UUID", src: "request_id X-Request-ID", header: map[string]string{"X-Request-Id": "<script>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serve(t, tt.src, tt.header)
			if tt.want != "" {
				if got != tt.want {
					t.Fatalf("{request_id} = %q, want %q", got, tt.want)
				}
				return
			}
			if !ValidUUID(got) || got[14] != '4' || got == canonical {
				t.Fatalf("{request_id} = %q, want a fresh UUIDv4", got)
			}
		})
	}
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewUUID()
		if !ValidUUID(id) {
			t.Fatalf("invalid UUID %q", id)
		}
		if id[14] != '4' || !(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') {
			t.Fatalf("%q is not version 4, variant 10", id)
		}
		if seen[id] {
			t.Fatalf("duplicate UUID %q", id)
		}
		seen[id] = true
	}
}

func TestCanonicalUUID(t *testing.T) {
	const want = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	tests := []struct {
		in string
		ok bool
	}{
		{"3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"3F2504E0-4F89-11D3-9A0C-0305E82C3301", true},
		{"3f2504e04f8911d39a0c0305e82c3301", true},
		{"{3f2504e0-4f89-11d3-9a0c-0305e82c3301}", true},
		{"urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"URN:UUID:3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"3f2504e0-4f89-11d3-9a0c-0305e82c330", false},
		{"3f2504e0-4f89-11d3-9a0c-0305e82c33012", false},
		{"3f2504e0-4f89-11d3-9a0c_0305e82c3301", false},
		{"3f2504e0-4f8911d3-9a0c-0305e82c3301-", false},
		{"gf2504e0-4f89-11d3-9a0c-0305e82c3301", false},
		{"3f2504e04f8911d39a0c0305e82c330g", false},
		{"{3f2504e0-4f89-11d3-9a0c-0305e82c3301", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalUUID(tt.in)
		if ok != tt.ok || (ok && got != want) {
			t.Errorf("CanonicalUUID(%q) = %q, %v; want ok=%v", tt.in, got, ok, tt.ok)
		}
		if ValidUUID(tt.in) != tt.ok {
			t.Errorf("ValidUUID(%q) != %v", tt.in, tt.ok)
		}
	}
}

func BenchmarkNewUUID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewUUID()
	}
}
