package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// bufferSize is the size of the pooled copy buffers.
const bufferSize = 32 << 10

// bufferPool is an httputil.BufferPool over a sync.Pool of 32 KiB buffers.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}}
}

// Get returns a buffer.
func (bp *bufferPool) Get() []byte { return *bp.p.Get().(*[]byte) }

// Put returns a buffer to the pool.
func (bp *bufferPool) Put(b []byte) {
	if cap(b) == bufferSize {
		b = b[:bufferSize]
		bp.p.Put(&b)
	}
}

// loadTLS builds the client TLS configuration for HTTPS upstreams (nil when no option asks for one).
func loadTLS(cfg *Config) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify}
	if len(cfg.CACertificates) > 0 {
		pool := x509.NewCertPool()
		for _, f := range cfg.CACertificates {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading ca_certificates: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_certificates: no PEM certificate in %s", f)
			}
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("loading tls_client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// newTransport builds the connection pool for one upstream. HTTPS upstreams speak HTTP/2 when they
// offer it by ALPN.
func newTransport(cfg *Config, network, address string, tc *tls.Config) *http.Transport {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second, FallbackDelay: cfg.FallbackDelay,
		Control: upstreamSocketControl}
	if cfg.FallbackDelay == 0 {
		dialer.FallbackDelay = -1
	}
	t := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, address)
		},
		TLSClientConfig:       tc.Clone(),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   cfg.KeepAlive,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		DisableKeepAlives:     cfg.KeepAlive == 0,
	}
	return t
}
