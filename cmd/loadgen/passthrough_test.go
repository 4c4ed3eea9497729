package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// The pass-through engine is what the server's rates are compared with: it must deliver every
// event it accepts, once and unchanged, whether published alone or in a batch, and refuse what is
// not an event.
func TestPassThroughDeliversEveryEventOnceUnchanged(t *testing.T) {
	var mu sync.Mutex
	var received [][]byte
	arrived := make(chan struct{}, 1000)
	receiverAt := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, body)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		arrived <- struct{}{}
	}))
	pub := &publisher{base: serveLoopback(t, passThroughHandler(receiverAt)), token: "t", account: "acct_test"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, batch := range []int{1, 20} {
		mu.Lock()
		received = nil
		mu.Unlock()
		first := pub.seq.Load() + 1
		if _, err := pub.flood(ctx, nil, 100, 4, batch, nil); err != nil {
			t.Fatalf("batch %d: publish: %v", batch, err)
		}
		for range 100 {
			select {
			case <-arrived:
			case <-ctx.Done():
				t.Fatalf("batch %d: %d of 100 events delivered", batch, len(received))
			}
		}
		time.Sleep(50 * time.Millisecond) // a duplicate would have arrived by now
		mu.Lock()
		got := received
		mu.Unlock()
		if len(got) != 100 {
			t.Fatalf("batch %d: %d deliveries of 100 events", batch, len(got))
		}
		want := map[string]bool{}
		for seq := first; seq < first+100; seq++ {
			want[string(pub.event(seq, nil))] = true
		}
		for _, body := range got {
			if !want[string(body)] {
				t.Fatalf("batch %d: delivered %.80q..., not one of the events published, or twice", batch, body)
			}
			delete(want, string(body))
		}
	}

	resp, err := http.Post(pub.base+"/v1/events", "application/json", bytes.NewReader([]byte("{")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a publish that is not JSON: status %d, want 400", resp.StatusCode)
	}
}

// serveLoopback serves h on a loopback port for the test and returns its base URL.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
