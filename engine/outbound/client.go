package outbound

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/engine/internal/memo"
)

const (
	defaultConnectTimeout      = 5 * time.Second
	defaultMaxResponseBytes    = 64 << 10
	defaultMaxIdleConnsPerHost = 64
	defaultUserAgent           = "Switchyard/1"

	// tlsHandshakeTimeout bounds a handshake on its own: a receiver that accepts TCP and then
	// stalls would otherwise hold a worker for the whole request timeout on every attempt.
	tlsHandshakeTimeout = 10 * time.Second
	// idleConnTimeout is how long a kept-alive connection waits for the next delivery. Longer
	// than most receivers keep theirs, which is harmless: one they close is noticed and dropped.
	idleConnTimeout = 90 * time.Second
	// tcpKeepAlive makes the kernel notice a receiver that vanished without closing.
	tcpKeepAlive = 30 * time.Second
	// drainLimit is how much of a response beyond MaxResponseBytes is read and thrown away to
	// keep the connection reusable; past it, closing is cheaper than reading.
	drainLimit = 256 << 10
	// maxHeaderBytes bounds a response's status line and headers. It is also the size of each
	// connection's read buffer, which must hold the whole header block (see readHead).
	maxHeaderBytes = 32 << 10
)

// ErrInvalidRequest marks a Request the client will not send, such as a header whose name or
// value could break the framing of the request.
var ErrInvalidRequest = errors.New("outbound: invalid request")

// ErrClosed is returned by Do after Close: connections would no longer be kept or cleaned up.
var ErrClosed = errors.New("outbound: client closed")

// Config tunes a Client. The zero value of each field means its default.
type Config struct {
	// Guard decides which addresses may be dialed. Nil means a guard with no allowlist and the
	// system resolver, never an unguarded client.
	Guard *Guard
	// ConnectTimeout bounds each TCP connect attempt (default 5s).
	ConnectTimeout time.Duration
	// MaxResponseBytes is how much of a response body is kept (default 64 KiB). Receivers'
	// bodies are stored for debugging, not processed, so more is rarely worth the memory.
	MaxResponseBytes int
	// MaxIdleConnsPerHost is how many kept-alive connections to one receiver are kept
	// (default 64), so busy receivers do not pay a TCP and TLS handshake per delivery.
	MaxIdleConnsPerHost int
	// UserAgent is sent when a request has no User-Agent of its own (default "Switchyard/1").
	UserAgent string
	// TLSConfig is cloned for HTTPS connections; nil means system roots and TLS 1.2 or later.
	// Operators with a private CA and tests with a self-signed server set it. Its ServerName
	// and NextProtos are replaced per connection.
	TLSConfig *tls.Config
}

// WithDefaults returns c with every unset field given its default.
func (c Config) WithDefaults() Config {
	if c.Guard == nil {
		c.Guard = NewGuard(nil, nil)
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = defaultMaxResponseBytes
	}
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	return c
}

// Header is one header line. Headers are a list, not a map, because signatures and some
// receivers depend on the exact names and order that were sent.
type Header struct{ Name, Value string }

// Request is one HTTP request to a receiver.
//
// Headers are sent in order with their names exactly as given. A Host header replaces the
// host in the Host line. Content-Length always comes from Body, and the connection-level
// headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade)
// belong to the client; all of these are dropped from Headers rather than sent twice.
type Request struct {
	Method  string // empty means POST, the method of webhooks
	URL     string
	Headers []Header
	Body    []byte
	// Timeout bounds the whole request, from connecting to reading the body; 0 leaves only ctx.
	Timeout time.Duration
	// MaxResponseBytes, when positive, replaces the client's MaxResponseBytes for this request.
	MaxResponseBytes int
}

// Response is a receiver's answer, with the body cut to MaxResponseBytes.
type Response struct {
	Status    int
	Headers   []Header // in the order and with the names the receiver sent
	Body      []byte
	Truncated bool // the receiver sent more than Body holds
	Duration  time.Duration
}

// Client sends webhooks. It speaks HTTP/1.1 itself instead of using net/http's Transport
// because Transport sorts header lines by name and cannot send them in the order a request
// gives; everything else (response parsing, chunked bodies) is net/http's. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	guard  *Guard
	tls    *tls.Config
	dialer net.Dialer
	// dial connects to one checked address; tests replace it to watch what is dialed.
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	mu     sync.Mutex
	idle   map[string][]*conn
	closed bool

	// targets remembers parsed receiver URLs (read-only once parsed): a subscription's deliveries
	// go to one URL, and parsing it again for each was 1.4% of the server's CPU in the load
	// generator's 16 x 20 run.
	targets *memo.Memo[*target]
}

const maxTargets = 4096

// NewClient returns a client whose every connection goes through cfg.Guard.
func NewClient(cfg Config) *Client {
	cfg = cfg.WithDefaults()
	c := &Client{cfg: cfg, guard: cfg.Guard, idle: map[string][]*conn{}, targets: memo.New(maxTargets, parseTarget)}
	if cfg.TLSConfig != nil {
		c.tls = cfg.TLSConfig.Clone()
	} else {
		c.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	// This client only speaks HTTP/1.1; say so, or a server could pick h2.
	c.tls.NextProtos = []string{"http/1.1"}
	c.dialer = net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: tcpKeepAlive, Control: c.guard.control}
	c.dial = c.dialer.DialContext
	return c
}

// Close closes kept-alive connections. Requests in flight finish, but their connections are
// closed instead of kept, and later calls to Do fail with ErrClosed.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	var all []*conn
	for _, list := range c.idle {
		for _, pc := range list {
			pc.idle = false
			all = append(all, pc)
		}
	}
	c.idle = map[string][]*conn{}
	c.mu.Unlock()
	for _, pc := range all {
		pc.nc.Close()
		<-pc.watched // so no goroutine outlives Close
	}
}

// Do sends req and reads the response. Redirects are returned as they are: following one
// would take the request to a URL nobody registered or checked.
//
// Errors wrap ErrInvalidURL, ErrInvalidRequest, ErrBlocked, ErrLookup, ErrClosed,
// context.DeadlineExceeded (any timeout) or context.Canceled, so callers can classify them.
// Messages name the scheme and host but not the path or query, which often hold secrets.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	start := time.Now()
	if req == nil {
		return nil, fmt.Errorf("%w: nil request", ErrInvalidRequest)
	}
	t, err := c.targets.Get(req.URL)
	if err != nil {
		return nil, err
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	head, err := c.writeHead(method, t, req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, t.origin(), err)
	}
	// The request's timeout is kept as a deadline beside ctx, not as a context of its own: a
	// timeout context per delivery adds a timer and a child to the caller's context, and every
	// delivery in flight shares that context's lock (2.4% of the server's CPU in 16 x 20).
	deadline, _ := ctx.Deadline()
	if req.Timeout > 0 {
		if d := start.Add(req.Timeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	for attempt := 0; ; attempt++ {
		pc, phase, err := c.getConn(ctx, deadline, t)
		if err != nil {
			return nil, c.wrap(ctx, deadline, method, t, phase, err)
		}
		limit := c.cfg.MaxResponseBytes
		if req.MaxResponseBytes > 0 {
			limit = req.MaxResponseBytes
		}
		resp, phase, err := c.roundTrip(ctx, deadline, pc, method, head, req.Body, limit)
		if err != nil {
			// A kept-alive connection the receiver closed just as it was reused fails before
			// any answer. Webhooks are delivered at least once, so sending again on a fresh
			// connection is allowed, and it spares a retry hours later.
			if attempt == 0 && pc.reused && ended(ctx, deadline) == nil && droppedBeforeAnswer(phase, err) {
				continue
			}
			return nil, c.wrap(ctx, deadline, method, t, phase, err)
		}
		resp.Duration = time.Since(start)
		return resp, nil
	}
}

const (
	phaseConnect = "connecting"
	phaseTLS     = "TLS handshake"
	phaseWrite   = "sending request"
	phaseHead    = "waiting for response"
	phaseBody    = "reading response body"
)

// ended returns why a call with ctx and deadline (zero: none) may go on no longer, or nil: what
// ctx.Err would say if the deadline were ctx's own.
func ended(ctx context.Context, deadline time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// wrap makes an error classifiable: guard and URL errors keep their sentinels, and every kind
// of timeout (context, connect, socket deadline) wraps context.DeadlineExceeded.
func (c *Client) wrap(ctx context.Context, deadline time.Time, method string, t *target, phase string, err error) error {
	prefix := method + " " + t.origin()
	if errors.Is(err, ErrBlocked) || errors.Is(err, ErrLookup) || errors.Is(err, ErrClosed) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	if cerr := ended(ctx, deadline); cerr != nil {
		// The underlying error is only the echo of the deadline or cancel (a closed or expired
		// socket); wrapping it could make a cancel look like a timeout.
		return fmt.Errorf("%s: %s: %w", prefix, phase, cerr)
	}
	if isTimeout(err) {
		return fmt.Errorf("%s: %s: %w (%v)", prefix, phase, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("%s: %s: %w", prefix, phase, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// droppedBeforeAnswer reports a connection the receiver closed before sending any byte of a
// response, the only failure after which sending again cannot mix two answers.
func droppedBeforeAnswer(phase string, err error) bool {
	switch phase {
	case phaseWrite:
		return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	case phaseHead:
		return errors.Is(err, errNoResponse)
	}
	return false
}

// hopHeaders describe the connection, which the client manages; a caller's copy would
// contradict the framing the client writes.
var hopHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true, "content-length": true,
}

// writeHead renders the request line and headers once, so a retry sends the same bytes.
func (c *Client) writeHead(method string, t *target, req *Request) ([]byte, error) {
	if !isToken(method) {
		return nil, fmt.Errorf("%w: method %q is not a valid HTTP method", ErrInvalidRequest, method)
	}
	host := t.hostHeader
	hasUA := false
	seenHost := false
	// One buffer, sized up front: built in two growing buffers with fmt, the head was the
	// largest allocation of a delivery.
	size := len(method) + len(t.requestURI) + len(host) + len(c.cfg.UserAgent) + 96
	for _, h := range req.Headers {
		size += len(h.Name) + len(h.Value) + 4
	}
	lines := make([]byte, 0, size)
	for _, h := range req.Headers {
		if !isToken(h.Name) {
			return nil, fmt.Errorf("%w: header name %q is not valid", ErrInvalidRequest, h.Name)
		}
		if !validValue(h.Value) {
			return nil, fmt.Errorf("%w: header %s has a line break or control character in its value", ErrInvalidRequest, h.Name)
		}
		lower := strings.ToLower(h.Name)
		switch {
		case lower == "host":
			if seenHost || h.Value == "" {
				return nil, fmt.Errorf("%w: Host must appear at most once and not be empty", ErrInvalidRequest)
			}
			seenHost, host = true, h.Value
			continue
		case hopHeaders[lower]:
			continue
		case lower == "user-agent":
			hasUA = true
		}
		lines = append(lines, h.Name...)
		lines = append(lines, ": "...)
		lines = append(lines, h.Value...)
		lines = append(lines, "\r\n"...)
	}
	b := make([]byte, 0, size+len(host))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, t.requestURI...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	b = append(b, lines...)
	if !hasUA {
		b = append(b, "User-Agent: "...)
		b = append(b, c.cfg.UserAgent...)
		b = append(b, "\r\n"...)
	}
	// Like net/http: methods that carry a body say "0" for an empty one, others say nothing.
	if len(req.Body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(req.Body)), 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validValue refuses CR, LF and other controls: they would let a header value inject headers
// or a second request.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// roundTrip sends one request on pc and reads the answer. pc is kept for reuse or closed
// before it returns.
func (c *Client) roundTrip(ctx context.Context, deadline time.Time, pc *conn, method string, head, body []byte, maxBody int) (_ *Response, phase string, err error) {
	if !deadline.IsZero() {
		pc.nc.SetDeadline(deadline)
	}
	// A cancel without a deadline must interrupt blocked reads and writes too.
	stop := context.AfterFunc(ctx, func() { pc.nc.SetDeadline(aLongTimeAgo) })
	reusable := false
	defer func() {
		if !stop() {
			reusable = false // the deadline was poisoned
		}
		if reusable && err == nil {
			c.putIdle(pc)
		} else {
			pc.nc.Close()
		}
	}()

	pc.bw.Write(head)
	pc.bw.Write(body)
	if err := pc.bw.Flush(); err != nil {
		return nil, phaseWrite, err
	}

	var resp *http.Response
	var headers []Header
	for {
		raw, err := readHead(pc.br)
		if err != nil {
			return nil, phaseHead, err
		}
		headers = parseHeaderLines(raw)
		resp, err = http.ReadResponse(pc.br, &http.Request{Method: method})
		if err != nil {
			return nil, phaseHead, err
		}
		// 1xx answers are interim (100 Continue, 103 Early Hints); the real one follows.
		// 101 is final: the connection now speaks something else.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}

	out := &Response{Status: resp.StatusCode, Headers: headers}
	out.Body, err = io.ReadAll(io.LimitReader(resp.Body, int64(maxBody)))
	if err != nil {
		return nil, phaseBody, err
	}
	n, err := io.CopyN(io.Discard, resp.Body, drainLimit+1)
	out.Truncated = n > 0 || (err != nil && err != io.EOF)
	if err == io.EOF {
		resp.Body.Close()
		reusable = !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols
	}
	// A failure while draining loses nothing that is kept: the status and the body up to the
	// limit are the answer. The connection is closed.
	return out, "", nil
}

var aLongTimeAgo = time.Unix(1, 0)

// errNoResponse means the receiver closed the connection instead of answering.
var errNoResponse = errors.New("connection closed before any response")

// readHead waits for a whole status line and header block and returns it without consuming
// it, so http.ReadResponse can parse it while the raw lines still give the order and spelling
// of the names, which net/http's Header map loses.
func readHead(br *bufio.Reader) ([]byte, error) {
	from := 0
	for {
		n := br.Buffered()
		if n > 0 {
			b, _ := br.Peek(n)
			if i := headerEnd(b, from); i >= 0 {
				return b[:i], nil
			}
			from = max(0, n-3)
			if n >= br.Size() {
				return nil, fmt.Errorf("response header is larger than %d bytes", br.Size())
			}
		}
		if _, err := br.Peek(n + 1); err != nil {
			if n == 0 && (err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
				return nil, fmt.Errorf("%w: %w", errNoResponse, err)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// headerEnd returns where the blank line ending a header block starts, or -1. Bare LF line
// ends are accepted as textproto accepts them.
func headerEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 1
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 1
		}
	}
	return -1
}

// parseHeaderLines turns a header block that http.ReadResponse accepted into Headers.
func parseHeaderLines(raw []byte) []Header {
	lines := strings.Split(string(raw), "\n")
	var out []Header
	for _, line := range lines[1:] { // lines[0] is the status line
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obsolete line folding: a continuation of the previous value
			if len(out) > 0 {
				out[len(out)-1].Value += " " + strings.Trim(line, " \t")
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out = append(out, Header{Name: name, Value: strings.Trim(value, " \t")})
	}
	return out
}

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date, as a wait from now.
// It returns 0 when there is none, it cannot be read, or it is already past; callers bound it.
func RetryAfter(h []Header, now time.Time) time.Duration {
	for _, hd := range h {
		if !strings.EqualFold(hd.Name, "Retry-After") {
			continue
		}
		v := strings.TrimSpace(hd.Value)
		if isDecimal(v) {
			secs, err := strconv.ParseInt(v, 10, 64)
			if err != nil || secs > int64((1<<63-1)/time.Second) {
				return 0
			}
			return time.Duration(secs) * time.Second
		}
		t, err := http.ParseTime(v)
		if err != nil {
			return 0
		}
		return max(0, t.Sub(now))
	}
	return 0
}

// conn is one connection to a receiver, kept between requests when the receiver allows it.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	key    string
	reused bool

	// While idle, a goroutine blocks reading so a receiver's close is noticed at once. The
	// fields below are guarded by Client.mu; watched is closed when that goroutine returns.
	idle    bool
	watched chan struct{}
	idleErr error
}

// getConn returns a kept-alive connection to t or dials a new one, with the phase that
// failed.
func (c *Client) getConn(ctx context.Context, deadline time.Time, t *target) (*conn, string, error) {
	key := t.key()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, phaseConnect, ErrClosed
		}
		list := c.idle[key]
		if len(list) == 0 {
			c.mu.Unlock()
			break
		}
		// Most recently used first: the likeliest still open at the receiver.
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		c.idle[key] = list[:len(list)-1]
		pc.idle = false
		c.mu.Unlock()
		if c.wake(pc) {
			pc.reused = true
			return pc, "", nil
		}
	}

	// Dialing and the TLS handshake are the steps that take a context: they get the deadline as
	// one, which a new connection's cost dwarfs.
	if dl, ok := ctx.Deadline(); !deadline.IsZero() && (!ok || deadline.Before(dl)) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	nc, err := c.dialGuarded(ctx, t)
	if err != nil {
		return nil, phaseConnect, err
	}
	if t.scheme == "https" {
		cfg := c.tls.Clone()
		// Always the URL's host: a ServerName in the operator's TLSConfig would be verified
		// against every receiver.
		cfg.ServerName = strings.TrimSuffix(t.hostname, ".")
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, phaseTLS, err
		}
		nc = tc
	}
	return &conn{
		nc:  nc,
		br:  bufio.NewReaderSize(nc, maxHeaderBytes),
		bw:  bufio.NewWriter(nc),
		key: key,
	}, "", nil
}

// dialGuarded resolves t with the guard's resolver, not the system's, so what is checked is
// exactly what is dialed, and connects to the first allowed address that answers. Blocked
// addresses are skipped; only if none is allowed is the request refused.
func (c *Client) dialGuarded(ctx context.Context, t *target) (net.Conn, error) {
	addrs, err := c.guard.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	var refused error
	var errs []error
	for _, a := range addrs {
		if err := c.guard.CheckAddr(a); err != nil {
			if refused == nil {
				refused = withHost(err, t)
			}
			continue
		}
		nc, err := c.dial(ctx, "tcp", netip.AddrPortFrom(a.Unmap(), t.port).String())
		if err == nil {
			return nc, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, refused
	}
	return nil, errors.Join(errs...)
}

// putIdle keeps pc for the next request to the same receiver, or closes it.
func (c *Client) putIdle(pc *conn) {
	// The deadline is set before the watcher starts, so wake's interrupting deadline cannot
	// be overwritten by it.
	pc.nc.SetDeadline(time.Time{})
	pc.nc.SetReadDeadline(time.Now().Add(idleConnTimeout))
	c.mu.Lock()
	if c.closed || len(c.idle[pc.key]) >= c.cfg.MaxIdleConnsPerHost {
		c.mu.Unlock()
		pc.nc.Close()
		return
	}
	pc.idle = true
	pc.idleErr = nil
	pc.watched = make(chan struct{})
	c.idle[pc.key] = append(c.idle[pc.key], pc)
	c.mu.Unlock()
	go c.watch(pc, pc.watched)
}

// watch blocks on an idle connection. A receiver should send nothing between responses, so
// anything that ends the read (its close, stray bytes, the idle timeout) ends the connection,
// unless wake interrupted the read to reuse it.
func (c *Client) watch(pc *conn, done chan struct{}) {
	_, err := pc.br.Peek(1)
	if err == nil {
		err = errors.New("unexpected data on idle connection")
	}
	c.mu.Lock()
	if pc.idle {
		pc.idle = false
		list := c.idle[pc.key]
		for i, o := range list {
			if o == pc {
				c.idle[pc.key] = append(list[:i], list[i+1:]...)
				break
			}
		}
		pc.nc.Close()
	}
	pc.idleErr = err
	c.mu.Unlock()
	close(done)
}

// wake stops the watcher of a connection taken from the pool and reports whether the
// connection is still usable.
func (c *Client) wake(pc *conn) bool {
	pc.nc.SetReadDeadline(aLongTimeAgo)
	<-pc.watched
	// Only the interruption itself leaves the connection usable; a close or stray data has
	// ended it.
	if !errors.Is(pc.idleErr, os.ErrDeadlineExceeded) || pc.br.Buffered() > 0 {
		pc.nc.Close()
		return false
	}
	pc.nc.SetReadDeadline(time.Time{})
	return true
}
