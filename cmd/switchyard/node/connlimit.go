package node

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Connection limits `serve` starts with. Every open connection costs a file descriptor and a
// goroutine with its buffers whether or not it ever finishes a request, so without a cap a few
// thousand slow clients use up the process's descriptors and nobody else gets through.
const (
	// DefaultMaxConns leaves room, under the descriptor limit of most servers, for the database,
	// plugins and outgoing deliveries; connCap lowers it where the limit is smaller.
	DefaultMaxConns = 4096
	// DefaultMaxConnsPerAddr leaves one client address (or IPv6 /64) a sixteenth of the total.
	// Behind a reverse proxy every client has the proxy's address: raise it or set 0 there.
	DefaultMaxConnsPerAddr = 256
)

// Request read deadlines `serve` starts with: a request's headers, then the whole request. 30 s
// reads a 1 MiB body at 35 kB/s; uploading a large plugin over a slow link may need more.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
)

// descriptorReserve is kept free of client connections for everything else the node opens:
// deliveries in flight, the database and its journal, plugin files.
const descriptorReserve = 512

// connCap is the cap on open connections: the configured one, lowered (with a warning) when the
// process may open fewer descriptors than it plus the reserve, since past that limit accept fails
// for everyone and the node cannot open its own files either.
func (n *Node) connCap() int {
	want := n.cfg.MaxConns
	if want < 0 {
		return 0
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return want
	}
	reserve := descriptorReserve + n.cfg.Dispatcher.Concurrency
	room := int(lim.Cur) - reserve
	if room < int(lim.Cur)/2 {
		room = int(lim.Cur) / 2
	}
	if want > room {
		n.logger.Warn("lowered the connection cap to fit the open-files limit", "max_conns", want, "lowered_to", room, "open_files_limit", lim.Cur)
		return room
	}
	return want
}

// limitListener closes, as soon as they are accepted, connections beyond max open at once or
// beyond perAddr from one client address. It closes them rather than leaving them in the
// kernel's backlog so that a flood cannot keep the backlog full and a new client waiting behind it.
// Zero turns a cap off.
type limitListener struct {
	net.Listener
	max, perAddr int

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int
}

func newLimitListener(ln net.Listener, max, perAddr int) net.Listener {
	if max <= 0 && perAddr <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: max, perAddr: perAddr, byAddr: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps; those beyond are closed here and never
// reach the HTTP server.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		if l.take(key) {
			return &limitedConn{Conn: c, release: func() { l.release(key) }}, nil
		}
		_ = c.Close()
	}
}

func (l *limitListener) take(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open >= l.max {
		return false
	}
	if l.perAddr > 0 && key.IsValid() && l.byAddr[key] >= l.perAddr {
		return false
	}
	l.open++
	if key.IsValid() {
		l.byAddr[key]++
	}
	return true
}

func (l *limitListener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if !key.IsValid() {
		return
	}
	if l.byAddr[key] <= 1 {
		delete(l.byAddr, key)
	} else {
		l.byAddr[key]--
	}
}

// clientKey is what the per-address cap counts by: the IPv4 address, or the /64 of an IPv6 one,
// since one IPv6 host commonly holds a whole /64 and could otherwise pick a new address per
// connection. An address it cannot read (not TCP) is counted only in the total.
func clientKey(a net.Addr) netip.Addr {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// limitedConn gives its place back once, however many times the HTTP server closes it.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
