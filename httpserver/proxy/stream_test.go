package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// TestServerSentEvents: each event reaches the client while the upstream still holds the stream open.
func TestServerSentEvents(t *testing.T) {
	next := make(chan string)
	b := newBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for {
			select {
			case ev, ok := <-next:
				if !ok {
					return
				}
				fmt.Fprintf(w, "data: %s\n\n", ev)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	base, _ := site(t, "proxy /events "+b.addr())
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		want := fmt.Sprintf("event-%d", i)
		next <- want
		line := readLineWithin(t, br, 2*time.Second)
		if line != "data: "+want+"\n" {
			t.Fatalf("line = %q", line)
		}
		readLineWithin(t, br, 2*time.Second) // blank separator
	}
	close(next)
}

// TestChunkedFlush: a response without Content-Length is flushed as it arrives.
func TestChunkedFlush(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, "chunked", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second\n")
	})
	base, _ := site(t, "proxy / "+b.addr())
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line := readLineWithin(t, br, 2*time.Second); line != "first\n" {
		t.Fatalf("line = %q", line)
	}
	close(release)
	if line := readLineWithin(t, br, 2*time.Second); line != "second\n" {
		t.Fatalf("line = %q", line)
	}
}

func readLineWithin(t *testing.T, br *bufio.Reader, d time.Duration) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		ch <- line
	}()
	select {
	case line := <-ch:
		return line
	case <-time.After(d):
		t.Fatal("response was not flushed")
		return ""
	}
}

// TestRequestBodyStreams: the upstream reads the start of an upload before the client has sent the rest.
func TestRequestBodyStreams(t *testing.T) {
	gotFirst := make(chan struct{})
	b := newBackend(t, "upload", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "hello" {
			t.Errorf("first bytes %q, %v", buf, err)
		}
		close(gotFirst)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n+5)
	})
	for _, opts := range []string{"", "try_duration 1s"} {
		t.Run("opts="+opts, func(t *testing.T) {
			gotFirst = make(chan struct{})
			base, _ := site(t, "proxy / "+b.addr()+" {\n"+opts+"\n}")
			pr, pw := io.Pipe()
			done := make(chan string)
			go func() {
				resp, err := http.Post(base+"/", "application/octet-stream", pr)
				if err != nil {
					done <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- string(body)
			}()
			pw.Write([]byte("hello"))
			select {
			case <-gotFirst:
			case <-time.After(3 * time.Second):
				t.Fatal("the upstream did not see the start of the body before the end")
			}
			pw.Write(make([]byte, 1<<20))
			pw.Close()
			if got := <-done; got != fmt.Sprint(5+1<<20) {
				t.Errorf("upstream read %s bytes", got)
			}
		})
	}
}

// TestWebSocket proxies a WebSocket echo without the websocket preset, then with it.
func TestWebSocket(t *testing.T) {
	echo := websocket.Handler(func(ws *websocket.Conn) { io.Copy(ws, ws) })
	b := newBackend(t, "ws", echo.ServeHTTP)
	for _, opts := range []string{"", "websocket", "transparent"} {
		t.Run("opts="+opts, func(t *testing.T) {
			base, _ := site(t, "proxy /ws "+b.addr()+" {\n"+opts+"\n}")
			wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws"
			ws, err := websocket.Dial(wsURL, "", base)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			for i := 0; i < 3; i++ {
				msg := fmt.Sprintf("ping %d", i)
				if err := websocket.Message.Send(ws, msg); err != nil {
					t.Fatal(err)
				}
				var got string
				ws.SetReadDeadline(time.Now().Add(2 * time.Second))
				if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
					t.Fatalf("echo = %q, %v", got, err)
				}
			}
		})
	}
}

// writeTLSFiles writes the httptest server's certificate (as CA and as client cert) and key as PEM.
func writeTLSFiles(t *testing.T, ts *httptest.Server) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	cert := ts.TLS.Certificates[0]
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestHTTPSUpstream: HTTP/2 to an HTTPS upstream, trust through ca_certificates or insecure_skip_verify,
// refusal otherwise, and a client certificate through tls_client.
func TestHTTPSUpstream(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		if r.TLS != nil {
			n = len(r.TLS.PeerCertificates)
		}
		fmt.Fprintf(w, "%s certs=%d", r.Proto, n)
	}))
	ts.EnableHTTP2 = true
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	certFile, keyFile := writeTLSFiles(t, ts)
	// The test certificate is issued for 127.0.0.1 and example.com.
	up := "https://" + ts.Listener.Addr().String()
	tests := []struct {
		name, opts string
		status     int
		body       string
	}{
		{name: "untrusted", status: http.StatusBadGateway},
		{name: "ca_certificates", opts: "ca_certificates " + certFile, status: 200, body: "HTTP/2.0 certs=0"},
		{name: "insecure_skip_verify", opts: "insecure_skip_verify", status: 200, body: "HTTP/2.0 certs=0"},
		{name: "tls_client", opts: "ca_certificates " + certFile + "\n tls_client " + certFile + " " + keyFile, status: 200, body: "HTTP/2.0 certs=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _ := site(t, "proxy / "+up+" {\n"+tt.opts+"\n}")
			status, body, _ := get(t, &http.Client{}, base+"/")
			if status != tt.status || (tt.body != "" && body != tt.body) {
				t.Errorf("got %d %q, want %d %q", status, body, tt.status, tt.body)
			}
		})
	}
}

// TestBrokenResponse: an upstream that dies in the middle of a body ends the client's connection (the
// response cannot be completed) and its in-flight count is released.
func TestBrokenResponse(t *testing.T) {
	b := newBackend(t, "broken", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	base, in := site(t, "proxy / "+b.addr()+" {\n try_duration 1s\n}")
	resp, err := http.Get(base + "/")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("the client read a complete response from a broken upstream")
	}
	up := proxyHandler(t, in).Config.Upstreams[0]
	waitFor(t, "the in-flight count to drop", 2*time.Second, func() bool { return up.Conns() == 0 })
}
