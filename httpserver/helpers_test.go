package httpserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/casketserver/casket/casketfile"
)

// serverDirectives are the directives the server tests use.
func serverDirectives() []Directive {
	return []Directive{
		{Name: "testbind", Setup: func(d *casketfile.Dispenser, s *Site) (Middleware, error) {
			s.BindHost = "127.0.0.1"
			return nil, nil
		}},
		tagDirective("first"),
		{Name: "respond", Setup: func(d *casketfile.Dispenser, s *Site) (Middleware, error) {
			d.Next()
			what := d.RemainingArgs()
			return func(next Handler) Handler {
				return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					switch what[0] {
					case "panic":
						panic("boom")
					case "panic-after-write":
						w.WriteHeader(http.StatusOK)
						_, _ = w.Write([]byte("partial"))
						panic("boom after write")
					case "forbidden":
						return Error(http.StatusForbidden, errors.New("not for you"))
					case "error-after-write":
						w.WriteHeader(http.StatusAccepted)
						return errors.New("too late")
					case "plain-error":
						return errors.New("oops")
					case "info":
						info := InfoFrom(r)
						w.Header().Set("X-Site", info.Site.Addr.Key())
						w.Header().Set("X-Original", info.OriginalURL.Path)
						w.Header().Set("X-Has-Recorder", boolString(info.Recorder != nil))
						_, err := w.Write([]byte(r.URL.Path))
						return err
					case "proto":
						_, err := w.Write([]byte(r.Proto))
						return err
					}
					return next.ServeHTTP(w, r)
				})
			}, nil
		}},
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// startInstance builds src (whose sites should use `testbind` and port 0) and starts it on pool.
func startInstance(t testing.TB, pool *ListenerPool, src string, mod func(*Options)) *Instance {
	t.Helper()
	opts := Options{Directives: serverDirectives(), Final: okFinal}
	if mod != nil {
		mod(&opts)
	}
	in, err := Build(parseBlocks(t, src), opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	startBuilt(t, in, pool)
	return in
}

// startBuilt starts in on pool and stops it when the test ends.
func startBuilt(t testing.TB, in *Instance, pool *ListenerPool) {
	t.Helper()
	if err := in.Start(context.Background(), pool); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Stop(ctx)
	})
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

func newPool(t testing.TB) *ListenerPool {
	p := NewListenerPool()
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// selfSigned makes a certificate for names, valid for an hour.
func selfSigned(t testing.TB, names ...string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}
