package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The status codes with a prepared slot; anything else (rare, invalid) is looked up per request.
const (
	minCode = 100
	maxCode = 599
)

// methods are the request methods with their own label value; every other method counts as "OTHER",
// so a client cannot create series at will.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"}

func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "DELETE":
		return 4
	case "PATCH":
		return 5
	case "OPTIONS":
		return 6
	case "CONNECT":
		return 7
	case "TRACE":
		return 8
	}
	return len(methods) - 1
}

// SiteMetrics records the requests of one site. Its series are created on first use of a
// (status, method) pair and kept, so a request costs a few atomic operations and no allocation.
type SiteMetrics struct {
	r        *Registry
	name     string
	inFlight prometheus.Gauge
	codes    [maxCode - minCode + 1]atomic.Pointer[codeSeries]
}

type codeSeries [len(methods)]atomic.Pointer[series]

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
	size     prometheus.Observer
}

// Site returns the recorder for the site labelled name (the `site` label). Recorders for the same name
// share their series: a reloaded configuration keeps counting where the previous one stopped.
func (r *Registry) Site(name string) *SiteMetrics {
	if r == nil {
		return nil
	}
	return &SiteMetrics{r: r, name: name, inFlight: r.inFlight.WithLabelValues(name)}
}

// Name returns the site label.
func (s *SiteMetrics) Name() string {
	if s == nil {
		return ""
	}
	return s.name
}

// Begin counts a request as in flight; call Done when it is answered.
func (s *SiteMetrics) Begin() {
	if s != nil {
		s.inFlight.Inc()
	}
}

// Done ends a request started with Begin and records its status, method, duration and response size.
func (s *SiteMetrics) Done(method string, code int, d time.Duration, size int64) {
	if s == nil {
		return
	}
	s.inFlight.Dec()
	s.Observe(method, code, d, size)
}

// Observe records one answered request.
func (s *SiteMetrics) Observe(method string, code int, d time.Duration, size int64) {
	if s == nil {
		return
	}
	se := s.series(methodIndex(method), code)
	se.requests.Inc()
	se.duration.Observe(d.Seconds())
	se.size.Observe(float64(size))
}

func (s *SiteMetrics) series(m, code int) *series {
	if code < minCode || code > maxCode {
		return s.newSeries(m, code)
	}
	cs := s.codes[code-minCode].Load()
	if cs == nil {
		cs = new(codeSeries)
		if !s.codes[code-minCode].CompareAndSwap(nil, cs) {
			cs = s.codes[code-minCode].Load()
		}
	}
	se := cs[m].Load()
	if se == nil {
		se = s.newSeries(m, code)
		cs[m].Store(se) // a racing store holds the same children: WithLabelValues returns existing ones
	}
	return se
}

func (s *SiteMetrics) newSeries(m, code int) *series {
	lv := []string{s.name, strconv.Itoa(code), methods[m]}
	return &series{
		requests: s.r.requests.WithLabelValues(lv...),
		duration: s.r.duration.WithLabelValues(lv...),
		size:     s.r.size.WithLabelValues(lv...),
	}
}
