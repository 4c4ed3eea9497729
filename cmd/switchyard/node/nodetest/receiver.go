package nodetest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is what a receiver got.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Receiver is a webhook receiver on loopback that records every request and answers with Respond.
type Receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*Request
	arrived  chan struct{}
	// Respond picks the answer to the n-th request (0-based); default 204.
	Respond func(n int, r *Request) (status int, header http.Header, body string)
}

// NewReceiver starts a receiver that is closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	rc := &Receiver{arrived: make(chan struct{}, 1)}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

// NewReceiverAt starts a receiver listening on addr, such as "127.0.0.2:0": another loopback
// address is another destination host.
func NewReceiverAt(t testing.TB, addr string) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &Receiver{arrived: make(chan struct{}, 1)}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	_ = rc.Server.Listener.Close()
	rc.Server.Listener = ln
	rc.Server.Start()
	t.Cleanup(rc.Close)
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body, At: time.Now()}
	rc.mu.Lock()
	n := len(rc.requests)
	rc.requests = append(rc.requests, req)
	respond := rc.Respond
	rc.mu.Unlock()
	select {
	case rc.arrived <- struct{}{}:
	default:
	}
	status, header, resp := http.StatusNoContent, http.Header(nil), ""
	if respond != nil {
		status, header, resp = respond(n, req)
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, resp)
}

// SetRespond replaces the answer function.
func (rc *Receiver) SetRespond(f func(n int, r *Request) (int, http.Header, string)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.Respond = f
}

// Requests returns what arrived so far.
func (rc *Receiver) Requests() []*Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*Request(nil), rc.requests...)
}

// WaitFor waits until at least n requests have arrived, failing the test after timeout.
func (rc *Receiver) WaitFor(t testing.TB, n int, timeout time.Duration) []*Request {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if reqs := rc.Requests(); len(reqs) >= n {
			return reqs
		}
		select {
		case <-rc.arrived:
		case <-deadline.C:
			t.Fatalf("receiver got %d requests within %v, want %d", len(rc.Requests()), timeout, n)
		}
	}
}
