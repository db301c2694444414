package httpserver

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A reserved address queues connections until an instance starts on it; that instance serves them.
func TestPoolReserveQueuesUntilStart(t *testing.T) {
	pool := newPool(t)
	in, err := Build(parseBlocks(t, "a.example:0 {\n testbind\n}"), Options{Directives: serverDirectives(), Final: okFinal})
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Reserve(in.Addresses()); err != nil {
		t.Fatal(err)
	}
	ln, ok := pool.Listener(in.Addresses()[0])
	if !ok {
		t.Fatal("reserved address not in the pool")
	}
	url := "http://" + ln.Addr().String() + "/x"
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() { // connects before the instance starts
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = "a.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-got:
		t.Fatalf("answered before the instance started: %+v", r)
	default:
	}
	startBuilt(t, in, pool)
	select {
	case r := <-got:
		if r.err != nil || r.body != "site a.example:0 path /x" {
			t.Errorf("queued request: %q %v", r.body, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued request not served after Start")
	}
}

// Prune closes reservations no instance took.
func TestPoolPruneClosesUnused(t *testing.T) {
	pool := newPool(t)
	if err := pool.Reserve([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	ln, _ := pool.Listener("127.0.0.1:0")
	addr := ln.Addr().String()
	pool.Prune()
	if _, ok := pool.Listener("127.0.0.1:0"); ok {
		t.Error("pruned reservation still in the pool")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("pruned socket still accepts connections")
	}
}
