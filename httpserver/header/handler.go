package header

import (
	"io"
	"net/http"
	"strconv"

	"github.com/casketserver/casket/httpserver"
)

// Headers is the `header` middleware.
type Headers struct {
	Next  httpserver.Handler
	Rules []Rule
}

// New returns the middleware for rules in front of next.
func New(next httpserver.Handler, rules []Rule) *Headers {
	return &Headers{Next: next, Rules: rules}
}

// ServeHTTP applies the matching rules to w's header before calling the next handler, so the fields are
// present even on error pages. Removals, sets and response-dependent values are applied again when the
// next handler writes its header, so they also win over fields that handler adds (`-Server`,
// overriding a backend's field).
func (h *Headers) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	var (
		hw  *headerWriter
		rp  *httpserver.Replacer
		hdr = w.Header()
	)
	for i := range h.Rules {
		rule := &h.Rules[i]
		if !httpserver.PathMatches(r.URL.Path, rule.Path) {
			continue
		}
		for j := range rule.Ops {
			op := &rule.Ops[j]
			value := op.Value
			if op.dynamic && !op.late {
				if rp == nil {
					rp = httpserver.NewReplacer(r, "")
				}
				value = rp.Replace(value)
			}
			switch {
			case op.late:
			case op.Action == Remove:
				hdr.Del(op.Name)
			case op.Action == Add:
				hdr.Add(op.Name, value)
				continue // appended once; nothing to redo at WriteHeader
			default:
				hdr.Set(op.Name, value)
			}
			if hw == nil {
				hw = &headerWriter{ResponseWriter: w, req: r}
				hw.pending = hw.buf[:0]
			}
			hw.pending = append(hw.pending, pendingOp{op: op, value: value})
		}
	}
	if hw == nil {
		return h.Next.ServeHTTP(w, r)
	}
	return h.Next.ServeHTTP(hw, r)
}

type pendingOp struct {
	op    *Op
	value string // expanded value, unless op.late
}

// headerWriter applies the pending operations once, just before the header is sent.
type headerWriter struct {
	http.ResponseWriter
	req     *http.Request
	done    bool
	pending []pendingOp
	buf     [4]pendingOp
}

func (hw *headerWriter) apply(status int) {
	hw.done = true
	hdr := hw.ResponseWriter.Header()
	var rp *httpserver.Replacer
	for _, p := range hw.pending {
		value := p.value
		if p.op.late {
			if rp == nil {
				rp = httpserver.NewReplacer(hw.req, "")
				rp.Set("status", strconv.Itoa(status))
			}
			value = rp.Replace(value)
		}
		switch p.op.Action {
		case Remove:
			hdr.Del(p.op.Name)
		case Add:
			hdr.Add(p.op.Name, value)
		default:
			if v := hdr[p.op.Name]; len(v) == 1 && v[0] == value {
				continue // still as set before next
			}
			hdr.Set(p.op.Name, value)
		}
	}
}

// WriteHeader applies the operations for a final status, then passes it on; 1xx statuses pass through.
func (hw *headerWriter) WriteHeader(status int) {
	if !hw.done && status >= 200 {
		hw.apply(status)
	}
	hw.ResponseWriter.WriteHeader(status)
}

// Write applies the operations if the header was not written yet, then writes b.
func (hw *headerWriter) Write(b []byte) (int, error) {
	if !hw.done {
		hw.apply(http.StatusOK)
	}
	return hw.ResponseWriter.Write(b)
}

// ReadFrom keeps the wrapped writer's sendfile path for io.Copy.
func (hw *headerWriter) ReadFrom(src io.Reader) (int64, error) {
	if !hw.done {
		hw.apply(http.StatusOK)
	}
	if rf, ok := hw.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{hw.ResponseWriter}, src)
}

// Flush sends the header (with the operations applied) and flushes the wrapped writer.
func (hw *headerWriter) Flush() {
	if !hw.done {
		hw.apply(http.StatusOK)
	}
	_ = http.NewResponseController(hw.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer for http.ResponseController.
func (hw *headerWriter) Unwrap() http.ResponseWriter { return hw.ResponseWriter }

// writerOnly hides any ReadFrom method of the writer so io.Copy does not loop.
type writerOnly struct{ io.Writer }
