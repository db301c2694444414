// Package metrics holds Casket's Prometheus collectors: HTTP requests per site, TLS handshakes, managed
// certificates, ACME orders, on-demand decisions and OCSP staples. It knows nothing of the HTTP server
// or of the TLS manager, so both can feed it: the process creates one Registry, hands it to the
// `prometheus` directive through the context (NewContext) and to the TLS manager directly.
//
// Every method of a nil *Registry is a no-op, so callers need no "metrics enabled?" checks.
package metrics

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Namespace prefixes every Casket metric name.
const Namespace = "casket"

// Registry is the set of Casket collectors and the endpoints serving them. Create it with New; one per
// process, shared by every configuration the process loads, so counters survive reloads.
type Registry struct {
	reg     *prometheus.Registry
	handler http.Handler
	log     *zap.Logger

	requests *prometheus.CounterVec   // site, code, method
	duration *prometheus.HistogramVec // site, code, method
	size     *prometheus.HistogramVec // site, code, method
	inFlight *prometheus.GaugeVec     // site

	handshakes *prometheus.CounterVec // version, resumed
	certExpiry *prometheus.GaugeVec   // name
	acmeOrders *prometheus.CounterVec // ca, result
	onDemand   *prometheus.CounterVec // decision
	ocsp       *ocspCollector

	mu        sync.Mutex
	endpoints map[string]*endpoint    // by listen address
	inherited map[string]net.Listener // sockets handed over by an upgrading process (handover.go)
}

// New returns a registry with Casket's collectors plus the Go runtime and process collectors. log
// receives the errors of the metrics endpoints; nil discards them.
func New(log *zap.Logger) *Registry {
	if log == nil {
		log = zap.NewNop()
	}
	r := &Registry{
		reg:       prometheus.NewRegistry(),
		log:       log,
		endpoints: make(map[string]*endpoint),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by site, status code and method.",
		}, []string{"site", "code", "method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from reading the request to the end of the response, by site, status code and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"site", "code", "method"}),
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "response_size_bytes",
			Help:    "Response body sizes, by site, status code and method.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8), // 256 B .. 4 MiB
		}, []string{"site", "code", "method"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "Requests being handled, by site.",
		}, []string{"site"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tls", Name: "handshakes_total",
			Help: "Completed TLS handshakes, by protocol version and whether the session was resumed.",
		}, []string{"version", "resumed"}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "tls", Name: "certificate_expiry_timestamp_seconds",
			Help: "Expiry time (Unix seconds) of each certificate in use, by subject name.",
		}, []string{"name"}),
		acmeOrders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "acme", Name: "orders_total",
			Help: "ACME certificate orders, by CA directory and result (success or failure).",
		}, []string{"ca", "result"}),
		onDemand: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tls", Name: "on_demand_decisions_total",
			Help: "On-demand TLS decisions for names without a certificate, by decision.",
		}, []string{"decision"}),
		ocsp: newOCSPCollector(),
	}
	r.reg.MustRegister(r.requests, r.duration, r.size, r.inFlight, r.handshakes, r.certExpiry,
		r.acmeOrders, r.onDemand, r.ocsp,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.handler = promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(log)})
	return r
}

// Register adds another collector (a plugin's own metrics) to the registry.
func (r *Registry) Register(c prometheus.Collector) error {
	if r == nil {
		return nil
	}
	return r.reg.Register(c)
}

// Gatherer returns the underlying registry, for tests and for pushing metrics elsewhere.
func (r *Registry) Gatherer() prometheus.Gatherer {
	if r == nil {
		return prometheus.Gatherers{}
	}
	return r.reg
}

// Handler returns the HTTP handler writing the metrics in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	if r == nil {
		return http.NotFoundHandler()
	}
	return r.handler
}

type ctxKey struct{}

// NewContext returns ctx carrying r. The server passes it to Instance.Start so the `prometheus`
// directive finds the process's registry in Provision.
func NewContext(ctx context.Context, r *Registry) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext returns the registry carried by ctx, or nil.
func FromContext(ctx context.Context) *Registry {
	r, _ := ctx.Value(ctxKey{}).(*Registry)
	return r
}
