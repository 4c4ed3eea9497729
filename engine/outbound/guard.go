// Package outbound is the HTTP client that delivers webhooks to URLs chosen by integrators.
//
// Because integrators pick the targets, every request is a potential server-side request
// forgery: a URL naming 169.254.169.254, a database on 10.0.0.0/8 or the engine's own admin
// port on 127.0.0.1 must never be called. The Guard decides which addresses are acceptable and
// the Client enforces that decision at connect time, on the addresses it actually dials, so a
// DNS answer that changes between registration and delivery (DNS rebinding) gains nothing.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

var (
	// ErrBlocked marks a destination the guard refuses. Callers test for it with errors.Is to
	// tell a forbidden target (the integrator must change the URL) from a failing one.
	ErrBlocked = errors.New("outbound: destination not allowed")
	// ErrInvalidURL marks a URL that cannot be a webhook target whatever it resolves to.
	ErrInvalidURL = errors.New("outbound: invalid URL")
	// ErrLookup marks a host name that did not resolve. It is separate from ErrBlocked because
	// DNS failures are often temporary and a delivery should be retried.
	ErrLookup = errors.New("outbound: host lookup failed")
)

// Resolver turns host names into addresses. *net.Resolver satisfies it; tests pass a fake so
// they never touch real DNS.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// BlockedError says which address was refused and which reserved range it fell in, so the
// message tells an integrator exactly why their URL is not accepted. It wraps ErrBlocked.
type BlockedError struct {
	// Host is the name that resolved to Addr; empty when the URL held the address itself.
	Host string
	// Addr is the refused address as it was given or resolved.
	Addr netip.Addr
	// Embedded is the IPv4 address Addr carries (IPv4-mapped, NAT64, 6to4) when that is what
	// was refused; the zero Addr otherwise.
	Embedded netip.Addr
	// Via names the embedding form, such as "NAT64 64:ff9b::/96"; empty unless Embedded is set.
	Via string
	// Range is the reserved range that matched and Reason its name, such as "loopback".
	Range  netip.Prefix
	Reason string
}

func (e *BlockedError) Error() string {
	var b strings.Builder
	b.WriteString(ErrBlocked.Error())
	b.WriteString(": ")
	if e.Host != "" {
		fmt.Fprintf(&b, "%q resolves to %s, which ", e.Host, e.Addr)
	} else {
		fmt.Fprintf(&b, "%s ", e.Addr)
	}
	if e.Embedded.IsValid() {
		fmt.Fprintf(&b, "embeds %s (%s), which ", e.Embedded, e.Via)
	}
	if e.Range.IsValid() {
		fmt.Fprintf(&b, "is in %s (%s)", e.Range, e.Reason)
	} else {
		b.WriteString(e.Reason)
	}
	return b.String()
}

func (e *BlockedError) Unwrap() error { return ErrBlocked }

// ruleKind says what a matching range means. Most ranges are refused outright; the ones that
// embed an IPv4 address are only as dangerous as the address they carry.
type ruleKind int

const (
	block ruleKind = iota
	// nat64: the last 32 bits are an IPv4 address a NAT64 gateway will connect to. A public
	// one is a legitimate target on IPv6-only networks, so the address is judged by it.
	nat64
	// sixToFour: bits 16-47 are the IPv4 address of the 6to4 relay. A private one is refused;
	// a public one leaves the address to the remaining rules.
	sixToFour
)

type rule struct {
	prefix netip.Prefix
	reason string
	kind   ruleKind
}

func rules(kind ruleKind, reason string, prefixes ...string) []rule {
	out := make([]rule, len(prefixes))
	for i, p := range prefixes {
		out[i] = rule{prefix: netip.MustParsePrefix(p), reason: reason, kind: kind}
	}
	return out
}

// v4Rules are the IPv4 ranges that are not ordinary public unicast (IANA special-purpose
// registry). The first match names the reason, so narrower ranges come before wider ones.
var v4Rules = concat(
	rules(block, "this network", "0.0.0.0/8"),
	rules(block, "private network", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
	rules(block, "shared address space (carrier-grade NAT)", "100.64.0.0/10"),
	rules(block, "loopback", "127.0.0.0/8"),
	rules(block, "link-local, where cloud metadata services live", "169.254.0.0/16"),
	rules(block, "documentation", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
	rules(block, "IETF protocol assignments", "192.0.0.0/24"),
	rules(block, "6to4 relay anycast", "192.88.99.0/24"),
	rules(block, "benchmarking", "198.18.0.0/15"),
	rules(block, "multicast", "224.0.0.0/4"),
	rules(block, "broadcast", "255.255.255.255/32"),
	rules(block, "reserved", "240.0.0.0/4"),
)

// v6Rules cover IPv6. Everything outside 2000::/3 is listed as reserved so that a range IANA
// allocates later for some local purpose is refused until someone decides otherwise.
var v6Rules = concat(
	rules(block, "unspecified (this network)", "::/128"),
	rules(block, "loopback", "::1/128"),
	rules(block, "IPv4-compatible (deprecated)", "::/96"),
	rules(nat64, "NAT64 64:ff9b::/96", "64:ff9b::/96"),
	rules(block, "NAT64 local use", "64:ff9b:1::/48"),
	rules(block, "discard only", "100::/64"),
	rules(block, "benchmarking", "2001:2::/48"),
	rules(block, "documentation", "2001:db8::/32", "3fff::/20"),
	rules(block, "IETF protocol assignments (includes Teredo)", "2001::/23"),
	rules(sixToFour, "6to4 2002::/16", "2002::/16"),
	rules(block, "SRv6 segment identifiers", "5f00::/16"),
	rules(block, "unique-local (private network)", "fc00::/7"),
	rules(block, "link-local", "fe80::/10"),
	rules(block, "site-local (deprecated)", "fec0::/10"),
	rules(block, "multicast", "ff00::/8"),
	rules(block, "reserved",
		"::/8", "100::/8", "200::/7", "400::/6", "800::/5", "1000::/4", "4000::/3", "6000::/3",
		"8000::/3", "a000::/3", "c000::/3", "e000::/4", "f000::/5", "f800::/6", "fe00::/9"),
)

func concat(parts ...[]rule) []rule {
	var out []rule
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Guard decides which destinations webhooks may reach: public unicast addresses, plus
// whatever the operator explicitly re-opens. It is safe for concurrent use.
type Guard struct {
	allow    []netip.Prefix
	resolver Resolver
}

// NewGuard returns a guard that refuses every non-public range except the prefixes in allow,
// and resolves names with resolver (nil means net.DefaultResolver). An allowed prefix re-opens
// exactly itself: allowing 127.0.0.0/8 does not allow ::1. Invalid prefixes are ignored.
func NewGuard(allow []netip.Prefix, resolver Resolver) *Guard {
	g := &Guard{resolver: resolver}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	for _, p := range allow {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		// ::ffff:10.0.0.0/104 means 10.0.0.0/8; store it as IPv4 so it matches unmapped forms.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.allow = append(g.allow, p)
	}
	return g
}

// CheckAddr returns nil when ip may be connected to, or a *BlockedError (wrapping ErrBlocked)
// naming the range that forbids it.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return &BlockedError{Addr: ip, Reason: "is not a valid IP address"}
	}
	// netip.Prefix.Contains is false for any address with a zone, so a zone would slip past
	// every range below; judge the bare address. The zone only picks an interface.
	bare := ip.WithZone("")
	unmapped := bare.Unmap()
	if g.allowed(bare) || g.allowed(unmapped) {
		return nil
	}
	if unmapped.Is4() {
		r, ok := match(v4Rules, unmapped)
		if !ok {
			return nil
		}
		e := &BlockedError{Addr: ip, Range: r.prefix, Reason: r.reason}
		if bare.Is4In6() {
			e.Embedded, e.Via = unmapped, "IPv4-mapped ::ffff:0:0/96"
		}
		return e
	}
	for _, r := range v6Rules {
		if !r.prefix.Contains(bare) {
			continue
		}
		switch r.kind {
		case block:
			return &BlockedError{Addr: ip, Range: r.prefix, Reason: r.reason}
		case nat64:
			b := bare.As16()
			return checkEmbedded(ip, netip.AddrFrom4([4]byte(b[12:16])), r.reason)
		case sixToFour:
			b := bare.As16()
			if err := checkEmbedded(ip, netip.AddrFrom4([4]byte(b[2:6])), r.reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkEmbedded judges the IPv4 address carried inside an IPv6 one by the IPv4 rules alone:
// the allowlist names addresses this host reaches directly, not ones a translator reaches.
func checkEmbedded(ip, v4 netip.Addr, via string) error {
	r, ok := match(v4Rules, v4)
	if !ok {
		return nil
	}
	return &BlockedError{Addr: ip, Embedded: v4, Via: via, Range: r.prefix, Reason: r.reason}
}

func match(rs []rule, ip netip.Addr) (rule, bool) {
	for _, r := range rs {
		if r.prefix.Contains(ip) {
			return r, true
		}
	}
	return rule{}, false
}

func (g *Guard) allowed(ip netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL vets a URL when it is registered, so an integrator learns at once that a target is
// unusable instead of watching deliveries fail. It resolves host names, and every address must
// pass: a name that also resolves to a private address is refused even if it has public ones.
// Passing is no promise for later: the Client checks again at every connection.
//
// Errors wrap ErrInvalidURL (malformed, or a host that does not resolve, which also wraps
// ErrLookup) or ErrBlocked (a forbidden target).
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	t, err := parseTarget(raw)
	if err != nil {
		return err
	}
	addrs, err := g.resolve(ctx, t)
	if err != nil {
		var le *lookupError
		if errors.As(err, &le) {
			// At registration a name that does not resolve is a mistake the integrator can fix.
			cp := *le
			cp.invalidURL = true
			return &cp
		}
		return err
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			return withHost(err, t)
		}
	}
	return nil
}

// withHost records which name led to a refused address, so the message explains a refusal of
// a URL that contains no address at all.
func withHost(err error, t *target) error {
	var be *BlockedError
	if t.ip.IsValid() || !errors.As(err, &be) {
		return err
	}
	cp := *be
	cp.Host = t.hostname
	return &cp
}

// localhostAddrs answers "localhost" and "*.localhost" without asking DNS (RFC 6761): a
// resolver or search domain that answered otherwise must not turn it into something else.
var localhostAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}

// resolve returns the addresses t may be connected to, before any guard check: the literal
// address, or what the guard's own resolver says the name is.
func (g *Guard) resolve(ctx context.Context, t *target) ([]netip.Addr, error) {
	if t.ip.IsValid() {
		return []netip.Addr{t.ip}, nil
	}
	name := strings.TrimSuffix(t.hostname, ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return localhostAddrs, nil
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", t.hostname)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		return nil, &lookupError{host: t.hostname, err: err}
	}
	return addrs, nil
}

// lookupError is a failed resolution. It wraps ErrLookup, and ErrInvalidURL as well when
// CheckURL reports it, with one message instead of two sentinels' texts run together.
type lookupError struct {
	host       string
	err        error
	invalidURL bool
}

func (e *lookupError) Error() string {
	if e.invalidURL {
		return fmt.Sprintf("%v: host %q does not resolve: %v", ErrInvalidURL, e.host, e.err)
	}
	return fmt.Sprintf("%v: %q: %v", ErrLookup, e.host, e.err)
}

func (e *lookupError) Unwrap() []error {
	if e.invalidURL {
		return []error{ErrInvalidURL, ErrLookup, e.err}
	}
	return []error{ErrLookup, e.err}
}

// control runs on every socket just before connect. The dialer already refuses blocked
// addresses; this re-checks the address the kernel is about to use, so a bug in the dial path
// cannot turn into a connection to an internal service.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: fmt.Sprintf("dial address %q is not an IP address and port", address)}
	}
	return g.CheckAddr(ap.Addr())
}

// target is a URL reduced to what the client needs to connect and write the request line.
type target struct {
	scheme     string
	hostname   string     // lower case, without brackets or zone
	ip         netip.Addr // set when the URL names an address; may carry a zone
	port       uint16
	hostHeader string // u.Host without a zone, as sent in the Host line
	requestURI string
	connKey    string // see key
}

// key identifies connections that can be reused for t.
func (t *target) key() string { return t.connKey }

func (t *target) makeKey() string {
	host := t.hostname
	if t.ip.IsValid() {
		host = t.ip.String() // keeps a zone: fe80::1%eth0 and fe80::1%eth1 are different hosts
	}
	return t.scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(t.port)))
}

// origin is what error messages show: the path and query of a webhook URL often hold a secret
// token, so they stay out of messages that end up in logs.
func (t *target) origin() string { return t.scheme + "://" + t.hostHeader }

func invalidURL(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidURL, fmt.Sprintf(format, args...))
}

// parseTarget checks everything about a URL that does not need DNS.
func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL, secret path included
		}
		return nil, invalidURL("cannot parse URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return nil, invalidURL("URL must be absolute, starting with http:// or https://")
		}
		return nil, invalidURL("scheme %q is not allowed; use http or https", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, invalidURL("URL must have the form %s://host/path", u.Scheme)
	}
	if u.User != nil {
		return nil, invalidURL("URL must not contain credentials (user:password@); send them in a header instead")
	}
	hostname := u.Hostname()
	if hostname == "" {
		return nil, invalidURL("URL has no host")
	}
	t := &target{scheme: u.Scheme, requestURI: u.RequestURI(), port: 80}
	if u.Scheme == "https" {
		t.port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, invalidURL("port %q is not between 1 and 65535", p)
		}
		t.port = uint16(n)
	}
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(hostname)
		if err != nil || !ip.Is6() {
			return nil, invalidURL("%q is not a valid IPv6 address", hostname)
		}
		t.ip = ip
	} else if ip, err := netip.ParseAddr(hostname); err == nil && ip.Is4() {
		t.ip = ip
	} else {
		if err := checkHostname(hostname); err != nil {
			return nil, err
		}
	}
	if t.ip.IsValid() {
		t.hostname = t.ip.WithZone("").String()
		t.hostHeader = t.hostname
		if t.ip.Is6() {
			t.hostHeader = "[" + t.hostname + "]"
		}
		if u.Port() != "" {
			t.hostHeader += ":" + u.Port()
		}
	} else {
		t.hostname = strings.ToLower(hostname)
		t.hostHeader = u.Host
	}
	t.connKey = t.makeKey()
	return t, nil
}

// checkHostname refuses names that are not plain DNS names. The numeric forms matter most:
// inet_aton, browsers and some resolvers read "2130706433", "0177.0.0.1", "0x7f.1" or "127.1"
// as 127.0.0.1 while others look them up as names, so what is checked and what is dialed could
// differ. A name whose last label is a number is never a real DNS name (no TLD is numeric).
func checkHostname(h string) error {
	name := strings.TrimSuffix(h, ".")
	last := name[strings.LastIndexByte(name, '.')+1:]
	if isDecimal(last) || isHexNumber(last) {
		return invalidURL("host %q looks like an IPv4 address in a non-standard form; write it as four decimal numbers (such as 192.0.2.10) or use a DNS name", h)
	}
	if len(name) > 253 {
		return invalidURL("host name is longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return invalidURL("host %q has an empty label", h)
		}
		if len(label) > 63 {
			return invalidURL("host %q has a label longer than 63 characters", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return invalidURL("host %q is not ASCII; use its punycode (xn--) form", h)
			default:
				return invalidURL("host %q contains %q, which is not allowed in a host name", h, string(c))
			}
		}
	}
	return nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHexNumber(s string) bool {
	if len(s) < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
