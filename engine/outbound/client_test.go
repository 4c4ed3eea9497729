package outbound

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var loopback = prefixes("127.0.0.0/8")

// dialLog records the addresses a client dialed.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (l *dialLog) add(a string) {
	l.mu.Lock()
	l.addrs = append(l.addrs, a)
	l.mu.Unlock()
}

func (l *dialLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.addrs)
}

// newTestClient returns a client whose dials are logged, and which refuses any address that
// is not loopback before connecting: a guard bug fails the test instead of sending a packet.
func newTestClient(t *testing.T, cfg Config) (*Client, *dialLog) {
	t.Helper()
	c := NewClient(cfg)
	log := &dialLog{}
	next := c.dial
	c.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		log.add(address)
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			t.Errorf("client tried to dial %s, which is not loopback", address)
			return nil, errors.New("test: refused to dial a non-loopback address")
		}
		return next(ctx, network, address)
	}
	t.Cleanup(c.Close)
	return c, log
}

// testServer is an httptest server on 127.0.0.1 that counts connections and requests.
type testServer struct {
	*httptest.Server
	conns  atomic.Int64
	closed atomic.Int64
	reqs   atomic.Int64
}

func newServer(t *testing.T, h http.HandlerFunc) *testServer {
	return startServer(t, h, false)
}

func startServer(t *testing.T, h http.HandlerFunc, useTLS bool) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.reqs.Add(1)
		h(w, r)
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			ts.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			ts.closed.Add(1)
		}
	}
	if useTLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
}

func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, path, ua, ctype string
		multi                   []string
		body                    string
		contentLength           int64
	}
	got := make(chan seen, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.UserAgent(), r.Header.Get("Content-Type"), r.Header["X-Multi"], string(body), r.ContentLength}
		w.Header()["x-receiver-id"] = []string{"abc"} // written as is, not canonicalized
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "accepted")
	})
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	payload := []byte(`{"type":"client.create","id":"evt_1"}`)
	resp, err := c.Do(context.Background(), &Request{
		Method: "PUT", URL: srv.URL + "/hooks/in?x=1",
		Headers: []Header{{"Content-Type", "application/json"}, {"X-Multi", "a"}, {"X-Multi", "b"}},
		Body:    payload, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	s := <-got
	want := seen{"PUT", "/hooks/in?x=1", "Switchyard/1", "application/json", []string{"a", "b"}, string(payload), int64(len(payload))}
	if s.method != want.method || s.path != want.path || s.ua != want.ua || s.ctype != want.ctype ||
		!slices.Equal(s.multi, want.multi) || s.body != want.body || s.contentLength != want.contentLength {
		t.Errorf("server saw %+v, want %+v", s, want)
	}
	if resp.Status != http.StatusCreated || string(resp.Body) != "accepted" || resp.Truncated {
		t.Errorf("response = %d %q truncated=%v, want 201 \"accepted\" false", resp.Status, resp.Body, resp.Truncated)
	}
	if !slices.Contains(resp.Headers, Header{"x-receiver-id", "abc"}) || !slices.Contains(resp.Headers, Header{"Content-Type", "text/plain"}) {
		t.Errorf("response headers %v lack x-receiver-id: abc or Content-Type: text/plain", resp.Headers)
	}
	if resp.Duration <= 0 || resp.Duration > 5*time.Second {
		t.Errorf("Duration = %v", resp.Duration)
	}
}

// rawRequest is one request as a raw server read it off the wire.
type rawRequest struct {
	conn  int
	lines []string // request line and header lines, without line ends
	body  string
}

// newRawServer listens on 127.0.0.1 and reads requests byte for byte, which httptest cannot:
// net/http canonicalizes header names and forgets their order. respond gives the bytes to
// answer request n (from 0) on connection conn (from 0); "" closes the connection unanswered.
func newRawServer(t *testing.T, respond func(conn, n int) string) (addr string, reqs chan rawRequest) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reqs = make(chan rawRequest, 100)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func(i int, nc net.Conn) {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				for n := 0; ; n++ {
					req, err := readRawRequest(br)
					if err != nil {
						return
					}
					req.conn = i
					reqs <- req
					out := respond(i, n)
					if out == "" {
						return
					}
					if _, err := io.WriteString(nc, out); err != nil {
						return
					}
				}
			}(i, nc)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), reqs
}

func readRawRequest(br *bufio.Reader) (rawRequest, error) {
	var req rawRequest
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return req, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		req.lines = append(req.lines, line)
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		return req, err
	}
	req.body = string(body)
	return req, nil
}

const rawOK = "HTTP/1.1 202 Accepted\r\nx-zeta: 1\r\nX-Alpha: 2\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nX-Folded: one\r\n two\r\nContent-Length: 2\r\n\r\nok"

func TestClientSendsHeadersInOrderWithExactNames(t *testing.T) {
	t.Parallel()
	addr, reqs := newRawServer(t, func(int, int) string { return rawOK })
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	tests := []struct {
		name  string
		req   Request
		lines []string
		body  string
	}{
		{
			name: "ordered and exact",
			req: Request{URL: "http://" + addr + "/hook?x=1", Body: []byte(`{"a":1}`), Headers: []Header{
				{"X-Zeta", "z"}, {"x-lower", "l"}, {"X-Alpha", "a"}, {"X-Multi", "1"}, {"X-Multi", "2"},
				{"webhook-signature", "v1,abc"}, {"Content-Type", "application/json"},
				{"content-length", "999"}, {"Connection", "close"}, {"Transfer-Encoding", "chunked"},
			}},
			lines: []string{
				"POST /hook?x=1 HTTP/1.1", "Host: " + addr, "X-Zeta: z", "x-lower: l", "X-Alpha: a",
				"X-Multi: 1", "X-Multi: 2", "webhook-signature: v1,abc", "Content-Type: application/json",
				"User-Agent: Switchyard/1", "Content-Length: 7",
			},
			body: `{"a":1}`,
		},
		{
			name: "own user agent and host",
			req: Request{Method: "GET", URL: "http://" + addr + "/", Headers: []Header{
				{"user-agent", "custom/2"}, {"host", "receiver.example"}, {"Accept", "*/*"},
			}},
			lines: []string{"GET / HTTP/1.1", "Host: receiver.example", "user-agent: custom/2", "Accept: */*"},
		},
		{
			name:  "empty POST says Content-Length 0",
			req:   Request{URL: "http://" + addr},
			lines: []string{"POST / HTTP/1.1", "Host: " + addr, "User-Agent: Switchyard/1", "Content-Length: 0"},
		},
	}
	for _, tt := range tests { // sequential: they share one connection
		resp, err := c.Do(context.Background(), &tt.req)
		if err != nil {
			t.Fatalf("%s: Do: %v", tt.name, err)
		}
		got := <-reqs
		if !slices.Equal(got.lines, tt.lines) || got.body != tt.body {
			t.Errorf("%s: server read\n%q body %q\nwant\n%q body %q", tt.name, got.lines, got.body, tt.lines, tt.body)
		}
		wantHeaders := []Header{{"x-zeta", "1"}, {"X-Alpha", "2"}, {"set-cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"X-Folded", "one two"}, {"Content-Length", "2"}}
		if resp.Status != 202 || string(resp.Body) != "ok" || !slices.Equal(resp.Headers, wantHeaders) {
			t.Errorf("%s: response %d %q %q, want 202 \"ok\" %q", tt.name, resp.Status, resp.Body, resp.Headers, wantHeaders)
		}
	}
}

func TestClientRefusesLoopbackWithoutAllowlist(t *testing.T) {
	t.Parallel()
	srv := newServer(t, okHandler)
	c, dials := newTestClient(t, Config{Guard: NewGuard(nil, &fakeResolver{})})
	_, err := c.Do(context.Background(), &Request{URL: srv.URL + "/secret-token-123", Body: []byte("x")})
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("Do = %v, want ErrBlocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1 is in 127.0.0.0/8 (loopback)") || strings.Contains(msg, "secret-token-123") {
		t.Errorf("message %q should name the range and not the path", msg)
	}
	if d := dials.list(); len(d) != 0 {
		t.Errorf("dialed %v, want no dial", d)
	}
	// A probe connection, made after Do returned: the server accepts connections in the order
	// they were made, so once it has accepted the probe it has accepted any the client made.
	probe, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	waitFor(t, func() bool { return srv.conns.Load() >= 1 })
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections besides the probe, want 0", n-1)
	}
}

func TestClientResolvesWithGuardResolver(t *testing.T) {
	t.Parallel()
	hosts := make(chan string, 10)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		okHandler(w, r)
	})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("http://hooks.test:%d/in", port)
	resolver := &fakeResolver{hosts: map[string][]string{
		"hooks.test": {"127.0.0.1"},
		"multi.test": {"10.0.0.1", "::1", "127.0.0.1"},
	}}

	t.Run("refused without allowlist", func(t *testing.T) {
		c, dials := newTestClient(t, Config{Guard: NewGuard(nil, resolver)})
		_, err := c.Do(context.Background(), &Request{URL: url})
		if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), `"hooks.test" resolves to 127.0.0.1`) {
			t.Fatalf("Do = %v, want ErrBlocked naming hooks.test", err)
		}
		if d := dials.list(); len(d) != 0 {
			t.Errorf("dialed %v, want no dial", d)
		}
		if n := srv.conns.Load(); n != 0 {
			t.Errorf("server saw %d connections, want 0", n)
		}
	})
	t.Run("allowed with allowlist", func(t *testing.T) {
		c, dials := newTestClient(t, Config{Guard: NewGuard(loopback, resolver)})
		resp, err := c.Do(context.Background(), &Request{URL: url})
		if err != nil || resp.Status != 200 {
			t.Fatalf("Do = %v, %v; want 200", resp, err)
		}
		if h := <-hosts; h != fmt.Sprintf("hooks.test:%d", port) {
			t.Errorf("Host = %q, want the name from the URL", h)
		}
		if d := dials.list(); !slices.Equal(d, []string{fmt.Sprintf("127.0.0.1:%d", port)}) {
			t.Errorf("dialed %v", d)
		}
	})
	t.Run("blocked addresses skipped", func(t *testing.T) {
		c, dials := newTestClient(t, Config{Guard: NewGuard(loopback, resolver)})
		resp, err := c.Do(context.Background(), &Request{URL: fmt.Sprintf("http://multi.test:%d/", port)})
		if err != nil || resp.Status != 200 {
			t.Fatalf("Do = %v, %v; want 200", resp, err)
		}
		<-hosts
		if d := dials.list(); !slices.Equal(d, []string{fmt.Sprintf("127.0.0.1:%d", port)}) {
			t.Errorf("dialed %v, want only the allowed address", d)
		}
	})
	t.Run("lookup failure", func(t *testing.T) {
		c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, resolver)})
		_, err := c.Do(context.Background(), &Request{URL: "http://gone.test/"})
		if !errors.Is(err, ErrLookup) || errors.Is(err, ErrBlocked) {
			t.Fatalf("Do = %v, want ErrLookup", err)
		}
	})
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	second := newServer(t, okHandler)
	first := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.URL+"/target", http.StatusFound)
	})
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	resp, err := c.Do(context.Background(), &Request{URL: first.URL + "/start", Body: []byte("{}")})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.Status != http.StatusFound {
		t.Errorf("Status = %d, want 302", resp.Status)
	}
	if !slices.Contains(resp.Headers, Header{"Location", second.URL + "/target"}) {
		t.Errorf("headers %v lack the Location", resp.Headers)
	}
	if n, r := second.conns.Load(), second.reqs.Load(); n != 0 || r != 0 {
		t.Errorf("redirect target saw %d connections and %d requests, want 0", n, r)
	}
}

func TestClientTruncatesLargeResponses(t *testing.T) {
	t.Parallel()
	const max = 1024
	tests := []struct {
		size      int
		truncated bool
		conns     int64 // after a second request: 1 when the first connection was reused
	}{
		{0, false, 1},
		{1000, false, 1},
		{max, false, 1},
		{max + 1, true, 1},
		{100 << 10, true, 1}, // drained within the limit, so reusable
		{2 << 20, true, 2},   // too much to drain: closed
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.size), func(t *testing.T) {
			t.Parallel()
			body := bytes.Repeat([]byte("0123456789abcdef"), tt.size/16+1)[:tt.size]
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/big" {
					w.Write(body)
				}
			})
			c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{}), MaxResponseBytes: max})
			resp, err := c.Do(context.Background(), &Request{Method: "GET", URL: srv.URL + "/big"})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			want := body[:min(tt.size, max)]
			if !bytes.Equal(resp.Body, want) || resp.Truncated != tt.truncated {
				t.Errorf("body %d bytes (prefix ok: %v), truncated %v; want %d bytes, truncated %v",
					len(resp.Body), bytes.Equal(resp.Body, want), resp.Truncated, len(want), tt.truncated)
			}
			if _, err := c.Do(context.Background(), &Request{Method: "GET", URL: srv.URL + "/small"}); err != nil {
				t.Fatalf("second Do: %v", err)
			}
			if n := srv.conns.Load(); n != tt.conns {
				t.Errorf("server saw %d connections, want %d", n, tt.conns)
			}
		})
	}
}

// TestRequestMaxResponseBytes: one request may read more of the answer than the client's default.
func TestRequestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("x"), 3000)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{}), MaxResponseBytes: 1024})
	for _, tt := range []struct{ limit, want int }{{0, 1024}, {2048, 2048}, {4096, 3000}} {
		resp, err := c.Do(context.Background(), &Request{Method: "GET", URL: srv.URL, MaxResponseBytes: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Body) != tt.want || resp.Truncated != (tt.want < len(body)) {
			t.Errorf("limit %d: read %d bytes, truncated %v; want %d", tt.limit, len(resp.Body), resp.Truncated, tt.want)
		}
	}
}

func TestClientTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the client hung up
		case <-time.After(10 * time.Second):
		}
	})
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})

	start := time.Now()
	_, err := c.Do(context.Background(), &Request{URL: srv.URL, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "waiting for response") {
		t.Errorf("message %q does not say what timed out", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("Do returned after %v, want about 200ms", d)
	}

	// A cancel is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = c.Do(ctx, &Request{URL: srv.URL})
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do after cancel = %v, want context.Canceled only", err)
	}
}

// hangingResolver answers no lookup until the lookup's context ends, or gives up after 5 s.
type hangingResolver struct{}

func (hangingResolver) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(5 * time.Second):
		return nil, errors.New("the lookup's context never ended")
	}
}

// The request's timeout bounds connecting too, although it is not a context of Do's caller.
func TestClientTimeoutBoundsConnecting(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, hangingResolver{})})
	start := time.Now()
	_, err := c.Do(context.Background(), &Request{URL: "http://receiver.example/hook", Timeout: 200 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("Do returned after %v, want about 200ms", d)
	}
}

// A socket timeout that does not come from the context (the connect timeout) is a timeout too.
func TestClientWrapsSocketTimeouts(t *testing.T) {
	t.Parallel()
	c := NewClient(Config{})
	tgt, err := parseTarget("http://hooks.example/")
	if err != nil {
		t.Fatal(err)
	}
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}
	err = c.wrap(context.Background(), time.Time{}, "POST", tgt, phaseConnect, opErr)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connecting") {
		t.Errorf("wrap = %v, want DeadlineExceeded while connecting", err)
	}
	err = c.wrap(context.Background(), time.Time{}, "POST", tgt, phaseConnect, errors.New("connection refused"))
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wrap(refused) = %v, must not be a timeout", err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClientKeepAlive(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			t.Parallel()
			var proto atomic.Value
			srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
				proto.Store(fmt.Sprintf("%s tls=%v", r.Proto, r.TLS != nil))
				okHandler(w, r)
			}, useTLS)
			cfg := Config{Guard: NewGuard(loopback, &fakeResolver{})}
			if useTLS {
				roots := x509.NewCertPool()
				roots.AddCert(srv.Certificate())
				cfg.TLSConfig = &tls.Config{RootCAs: roots}
			}
			c, _ := newTestClient(t, cfg)
			for i := range 20 {
				resp, err := c.Do(context.Background(), &Request{URL: srv.URL, Body: []byte(strconv.Itoa(i))})
				if err != nil || resp.Status != 200 || string(resp.Body) != "ok" {
					t.Fatalf("request %d: %v, %v", i, resp, err)
				}
			}
			if n := srv.conns.Load(); n != 1 {
				t.Errorf("20 requests used %d connections, want 1", n)
			}
			if p := proto.Load(); p != fmt.Sprintf("HTTP/1.1 tls=%v", useTLS) {
				t.Errorf("server saw %v", p)
			}
		})
	}
}

func TestClientTLSVerifiesCertificate(t *testing.T) {
	t.Parallel()
	srv := startServer(t, okHandler, true)
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})}) // system roots only
	_, err := c.Do(context.Background(), &Request{URL: srv.URL})
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("Do = %v, want an unknown-authority error during the TLS handshake", err)
	}
}

func TestClientBodyFraming(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1000")
		case "/chunked":
			for _, part := range []string{"one,", "two,", "three"} {
				io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"HEAD", "/head", 200, ""},
		{"GET", "/chunked", 200, "one,two,three"},
		{"POST", "/empty", 204, ""},
		{"GET", "/chunked", 200, "one,two,three"},
		{"HEAD", "/head", 200, ""},
	}
	for _, tt := range tests {
		resp, err := c.Do(context.Background(), &Request{Method: tt.method, URL: srv.URL + tt.path})
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		if resp.Status != tt.status || string(resp.Body) != tt.body || resp.Truncated {
			t.Errorf("%s %s = %d %q truncated=%v, want %d %q", tt.method, tt.path, resp.Status, resp.Body, resp.Truncated, tt.status, tt.body)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("used %d connections, want 1", n)
	}
}

func TestClientSkipsInterimResponses(t *testing.T) {
	t.Parallel()
	addr, _ := newRawServer(t, func(int, int) string {
		return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 4\r\n\r\ndone"
	})
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	want := []Header{{"X-Final", "yes"}, {"Content-Length", "4"}}
	if resp.Status != 200 || string(resp.Body) != "done" || !slices.Equal(resp.Headers, want) {
		t.Errorf("got %d %q %v, want 200 \"done\" %v", resp.Status, resp.Body, resp.Headers, want)
	}
}

// A receiver that closes a kept-alive connection just as it is reused must not fail the
// delivery: the request is sent again once, on a new connection.
func TestClientRetriesOnceOnStaleConnection(t *testing.T) {
	t.Parallel()
	addr, reqs := newRawServer(t, func(conn, n int) string {
		if conn == 0 && n == 1 {
			return "" // read the second request, then hang up without answering
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	for i := range 2 {
		resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr, Body: []byte(strconv.Itoa(i))})
		if err != nil || resp.Status != 200 {
			t.Fatalf("request %d: %v, %v", i, resp, err)
		}
	}
	var got []string
	for range 3 {
		r := <-reqs
		got = append(got, fmt.Sprintf("conn%d:%s", r.conn, r.body))
	}
	if want := []string{"conn0:0", "conn0:1", "conn1:1"}; !slices.Equal(got, want) {
		t.Errorf("server saw %v, want %v", got, want)
	}
}

// On a fresh connection there is no stale-connection excuse: a receiver that hangs up
// without answering is an error, and the request is not sent twice.
func TestClientNoRetryOnFreshConnection(t *testing.T) {
	t.Parallel()
	addr, reqs := newRawServer(t, func(int, int) string { return "" })
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	_, err := c.Do(context.Background(), &Request{URL: "http://" + addr})
	if err == nil || !strings.Contains(err.Error(), "closed before any response") {
		t.Fatalf("Do = %v, want an error saying the receiver closed the connection", err)
	}
	<-reqs
	select {
	case r := <-reqs:
		t.Errorf("request sent again on connection %d", r.conn)
	case <-time.After(100 * time.Millisecond):
	}
}

// A kept-alive connection the receiver closes while idle is noticed and not reused.
func TestClientDropsConnectionsClosedByReceiver(t *testing.T) {
	t.Parallel()
	srv := newServer(t, okHandler)
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	if _, err := c.Do(context.Background(), &Request{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.idle) == 0 || len(c.idle[mustKey(t, srv.URL)]) == 0
	})
	resp, err := c.Do(context.Background(), &Request{URL: srv.URL})
	if err != nil || resp.Status != 200 {
		t.Fatalf("Do after the receiver closed: %v, %v", resp, err)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
}

func mustKey(t *testing.T, raw string) string {
	tgt, err := parseTarget(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tgt.key()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientConcurrentRequests(t *testing.T) {
	t.Parallel()
	srv := newServer(t, okHandler)
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{}), MaxIdleConnsPerHost: 4})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				resp, err := c.Do(context.Background(), &Request{URL: srv.URL, Body: []byte(fmt.Sprint(w, i))})
				if err != nil || resp.Status != 200 || string(resp.Body) != "ok" {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed", f, workers*each)
	}
	if r := srv.reqs.Load(); r != workers*each {
		t.Errorf("server saw %d requests, want %d", r, workers*each)
	}
	c.mu.Lock()
	idle := len(c.idle[mustKey(t, srv.URL)])
	c.mu.Unlock()
	if idle > 4 {
		t.Errorf("%d idle connections kept, want at most 4", idle)
	}
}

func TestClientClose(t *testing.T) {
	t.Parallel()
	srv := newServer(t, okHandler)
	c, _ := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	if _, err := c.Do(context.Background(), &Request{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, func() bool { return srv.closed.Load() == 1 })
	if _, err := c.Do(context.Background(), &Request{URL: srv.URL}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v, want ErrClosed", err)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

func TestClientRefusesInvalidRequests(t *testing.T) {
	t.Parallel()
	c, dials := newTestClient(t, Config{Guard: NewGuard(loopback, &fakeResolver{})})
	tests := []struct {
		name string
		req  *Request
		want error
	}{
		{"nil request", nil, ErrInvalidRequest},
		{"ftp URL", &Request{URL: "ftp://127.0.0.1/"}, ErrInvalidURL},
		{"decimal IPv4", &Request{URL: "http://2130706433/"}, ErrInvalidURL},
		{"short IPv4", &Request{URL: "http://127.1:8080/"}, ErrInvalidURL},
		{"credentials", &Request{URL: "http://u:p@127.0.0.1/"}, ErrInvalidURL},
		{"header name with space", &Request{URL: "http://127.0.0.1:1/", Headers: []Header{{"Bad Name", "x"}}}, ErrInvalidRequest},
		{"empty header name", &Request{URL: "http://127.0.0.1:1/", Headers: []Header{{"", "x"}}}, ErrInvalidRequest},
		{"header injection", &Request{URL: "http://127.0.0.1:1/", Headers: []Header{{"X-Ok", "a\r\nX-Injected: 1"}}}, ErrInvalidRequest},
		{"NUL in value", &Request{URL: "http://127.0.0.1:1/", Headers: []Header{{"X-Ok", "a\x00b"}}}, ErrInvalidRequest},
		{"two Host headers", &Request{URL: "http://127.0.0.1:1/", Headers: []Header{{"Host", "a"}, {"host", "b"}}}, ErrInvalidRequest},
		{"bad method", &Request{Method: "GE T", URL: "http://127.0.0.1:1/"}, ErrInvalidRequest},
	}
	for _, tt := range tests {
		_, err := c.Do(context.Background(), tt.req)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Do = %v, want %v", tt.name, err, tt.want)
		}
	}
	if d := dials.list(); len(d) != 0 {
		t.Errorf("invalid requests dialed %v", d)
	}
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	cfg := Config{}.WithDefaults()
	if cfg.Guard == nil || cfg.ConnectTimeout != 5*time.Second || cfg.MaxResponseBytes != 64<<10 ||
		cfg.MaxIdleConnsPerHost != 64 || cfg.UserAgent != "Switchyard/1" {
		t.Errorf("defaults = %+v", cfg)
	}
	g := NewGuard(nil, nil)
	cfg = Config{Guard: g, ConnectTimeout: time.Second, MaxResponseBytes: 10, MaxIdleConnsPerHost: 2, UserAgent: "x"}.WithDefaults()
	if cfg.Guard != g || cfg.ConnectTimeout != time.Second || cfg.MaxResponseBytes != 10 || cfg.MaxIdleConnsPerHost != 2 || cfg.UserAgent != "x" {
		t.Errorf("set fields were changed: %+v", cfg)
	}
	// The default guard must be strict, never open.
	if err := cfg.Guard.CheckAddr(netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrBlocked) {
		t.Errorf("default guard allows loopback: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		headers []Header
		want    time.Duration
	}{
		{"absent", []Header{{"Content-Type", "text/plain"}}, 0},
		{"nil", nil, 0},
		{"seconds", []Header{{"Retry-After", "120"}}, 2 * time.Minute},
		{"lower-case name and spaces", []Header{{"retry-after", " 30 "}}, 30 * time.Second},
		{"zero", []Header{{"Retry-After", "0"}}, 0},
		{"negative", []Header{{"Retry-After", "-5"}}, 0},
		{"fraction", []Header{{"Retry-After", "1.5"}}, 0},
		{"garbage", []Header{{"Retry-After", "soon"}}, 0},
		{"overflow", []Header{{"Retry-After", "99999999999999999999"}}, 0},
		{"HTTP date", []Header{{"Retry-After", now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"RFC 850 date", []Header{{"Retry-After", "Saturday, 01-Mar-25 12:05:00 GMT"}}, 5 * time.Minute},
		{"ANSI C date", []Header{{"Retry-After", "Sat Mar  1 13:00:00 2025"}}, time.Hour},
		{"past date", []Header{{"Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"first one counts", []Header{{"Retry-After", "10"}, {"Retry-After", "20"}}, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.headers, now); got != tt.want {
			t.Errorf("%s: RetryAfter = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The client parses each receiver URL once: what it remembers is what parseTarget makes of the
// URL, and a bad URL is refused every time.
func TestClientRemembersTargets(t *testing.T) {
	t.Parallel()
	c := NewClient(Config{Guard: NewGuard(loopback, &fakeResolver{})})
	for _, raw := range []string{"http://127.0.0.1:8080/hooks?x=1", "https://[::1]/a", "https://Example.COM:8443/p/q"} {
		want, err := parseTarget(raw)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := c.targets.Get(raw)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("targets.Get(%q) = %+v, %v; parseTarget made %+v", raw, got, err, want)
			}
		}
	}
	for range 2 {
		if _, err := c.Do(context.Background(), &Request{URL: "ftp://127.0.0.1/x"}); !errors.Is(err, ErrInvalidURL) {
			t.Fatalf("a bad URL: %v, want ErrInvalidURL", err)
		}
	}
}
