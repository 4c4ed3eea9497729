package nodetest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Hanging is a receiver gone unresponsive: it accepts TCP connections, reads whatever comes, and
// never answers. Every request sent to it holds its own connection until the sender gives up, so
// it counts the requests it holds and those the sender has abandoned.
type Hanging struct {
	URL string
	// Host is the host:port it listens on.
	Host string

	ln       net.Listener
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	closed   int
	peak     int
	changed  chan struct{}
}

// NewHanging starts a hanging receiver on loopback, closed when the test ends.
func NewHanging(t testing.TB) *Hanging {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &Hanging{ln: ln, Host: ln.Addr().String(), URL: "http://" + ln.Addr().String() + "/hook",
		conns: map[net.Conn]struct{}{}, changed: make(chan struct{}, 1)}
	go h.accept()
	t.Cleanup(h.Close)
	return h
}

func (h *Hanging) accept() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		h.conns[c] = struct{}{}
		h.accepted++
		h.peak = max(h.peak, len(h.conns))
		h.mu.Unlock()
		h.signal()
		go func() {
			// Reading until the sender closes is how an abandoned request is seen.
			_, _ = io.Copy(io.Discard, c)
			h.mu.Lock()
			if _, ok := h.conns[c]; ok {
				delete(h.conns, c)
				h.closed++
			}
			h.mu.Unlock()
			_ = c.Close()
			h.signal()
		}()
	}
}

func (h *Hanging) signal() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// Counts returns how many requests arrived, how many the sender has abandoned since, and the most
// held open at once.
func (h *Hanging) Counts() (accepted, abandoned, peak int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepted, h.closed, h.peak
}

// WaitFor waits until at least n requests have arrived, failing the test after timeout.
func (h *Hanging) WaitFor(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if got, _, _ := h.Counts(); got >= n {
			return
		}
		select {
		case <-h.changed:
		case <-deadline.C:
			got, _, _ := h.Counts()
			t.Fatalf("hanging receiver got %d requests within %v, want %d", got, timeout, n)
		}
	}
}

// Close stops listening and drops every connection held.
func (h *Hanging) Close() {
	_ = h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		_ = c.Close()
		delete(h.conns, c)
	}
}
