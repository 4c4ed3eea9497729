package outbound

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a fixed table and records every question, so tests never ask
// real DNS and can assert which names were looked up.
type fakeResolver struct {
	hosts map[string][]string

	mu    sync.Mutex
	asked []string
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, host)
	r.mu.Unlock()
	addrs, ok := r.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	return out, nil
}

func (r *fakeResolver) questions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.asked)
}

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func TestCheckAddrBlocksSpecialRanges(t *testing.T) {
	t.Parallel()
	g := NewGuard(nil, &fakeResolver{})
	tests := []struct {
		addr   string
		rng    string // the range the message must name
		reason string
		msg    string // a further substring the message must contain
	}{
		{"127.0.0.1", "127.0.0.0/8", "loopback", "127.0.0.1 is in 127.0.0.0/8 (loopback)"},
		{"127.255.255.254", "127.0.0.0/8", "loopback", ""},
		{"::1", "::1/128", "loopback", "::1 is in ::1/128 (loopback)"},
		{"0.0.0.0", "0.0.0.0/8", "this network", ""},
		{"0.1.2.3", "0.0.0.0/8", "this network", ""},
		{"::", "::/128", "this network", ""},
		{"10.0.0.1", "10.0.0.0/8", "private", ""},
		{"10.255.255.255", "10.0.0.0/8", "private", ""},
		{"172.16.0.1", "172.16.0.0/12", "private", ""},
		{"172.31.255.255", "172.16.0.0/12", "private", ""},
		{"192.168.1.1", "192.168.0.0/16", "private", ""},
		{"169.254.169.254", "169.254.0.0/16", "link-local", "metadata"},
		{"fe80::1", "fe80::/10", "link-local", ""},
		{"fe80::1%eth0", "fe80::/10", "link-local", "fe80::1%eth0 is in fe80::/10"},
		{"ff02::1%eth0", "ff00::/8", "multicast", ""},
		{"100.64.0.1", "100.64.0.0/10", "shared address space", ""},
		{"100.127.255.255", "100.64.0.0/10", "shared address space", ""},
		{"fc00::1", "fc00::/7", "unique-local", ""},
		{"fd12:3456::1", "fc00::/7", "unique-local", ""},
		{"224.0.0.1", "224.0.0.0/4", "multicast", ""},
		{"239.255.255.250", "224.0.0.0/4", "multicast", ""},
		{"ff02::1", "ff00::/8", "multicast", ""},
		{"255.255.255.255", "255.255.255.255/32", "broadcast", ""},
		{"240.0.0.1", "240.0.0.0/4", "reserved", ""},
		{"198.18.0.1", "198.18.0.0/15", "benchmarking", ""},
		{"198.19.255.255", "198.18.0.0/15", "benchmarking", ""},
		{"2001:2::1", "2001:2::/48", "benchmarking", ""},
		{"192.0.0.8", "192.0.0.0/24", "IETF protocol assignments", ""},
		{"192.0.2.1", "192.0.2.0/24", "documentation", ""},
		{"198.51.100.7", "198.51.100.0/24", "documentation", ""},
		{"203.0.113.9", "203.0.113.0/24", "documentation", ""},
		{"2001:db8::1", "2001:db8::/32", "documentation", ""},
		{"3fff::1", "3fff::/20", "documentation", ""},
		{"192.88.99.1", "192.88.99.0/24", "6to4 relay", ""},
		{"2001::1", "2001::/23", "Teredo", ""},
		{"100::1", "100::/64", "discard", ""},
		{"fec0::1", "fec0::/10", "site-local", ""},
		{"4000::1", "4000::/3", "reserved", ""},
		{"64:ff9b:1::1", "64:ff9b:1::/48", "NAT64 local use", ""},
		{"::7f00:1", "::/96", "IPv4-compatible", ""},
		// IPv6 forms that carry an IPv4 address are judged by that address.
		{"::ffff:127.0.0.1", "127.0.0.0/8", "loopback", "::ffff:127.0.0.1 embeds 127.0.0.1 (IPv4-mapped"},
		{"::ffff:10.0.0.1", "10.0.0.0/8", "private", "embeds 10.0.0.1"},
		{"::ffff:169.254.169.254", "169.254.0.0/16", "link-local", ""},
		{"64:ff9b::a00:1", "10.0.0.0/8", "private", "64:ff9b::a00:1 embeds 10.0.0.1 (NAT64 64:ff9b::/96)"},
		{"64:ff9b::7f00:1", "127.0.0.0/8", "loopback", "embeds 127.0.0.1"},
		{"2002:7f00:1::", "127.0.0.0/8", "loopback", "2002:7f00:1:: embeds 127.0.0.1 (6to4 2002::/16)"},
		{"2002:a9fe:a9fe::1", "169.254.0.0/16", "link-local", "embeds 169.254.169.254"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("CheckAddr(%s) = %v, want ErrBlocked", tt.addr, err)
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("CheckAddr(%s) error %T is not a *BlockedError", tt.addr, err)
			}
			if be.Range.String() != tt.rng {
				t.Errorf("range = %s, want %s", be.Range, tt.rng)
			}
			msg := err.Error()
			for _, want := range []string{tt.addr, tt.rng, tt.reason, tt.msg} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestCheckAddrAllowsPublicAddresses(t *testing.T) {
	t.Parallel()
	g := NewGuard(nil, &fakeResolver{})
	for _, a := range []string{
		"8.8.8.8", "1.1.1.1", "2606:4700::1111", "2a00:1450:4001:82b::200e",
		"::ffff:8.8.8.8",   // mapped public address
		"64:ff9b::808:808", // NAT64 of 8.8.8.8
		"2002:808:808::1",  // 6to4 through 8.8.8.8
		"172.32.0.1",       // just past 172.16.0.0/12
		"172.15.255.255",   // just before it
		"100.128.0.1",      // just past 100.64.0.0/10
		"192.169.0.1",      // just past 192.168.0.0/16
		"198.20.0.1",       // just past 198.18.0.0/15
		"11.0.0.1", "9.255.255.255", "223.255.255.255",
	} {
		t.Run(a, func(t *testing.T) {
			t.Parallel()
			if err := g.CheckAddr(netip.MustParseAddr(a)); err != nil {
				t.Fatalf("CheckAddr(%s) = %v, want nil", a, err)
			}
		})
	}
	if err := g.CheckAddr(netip.Addr{}); !errors.Is(err, ErrBlocked) {
		t.Errorf("CheckAddr(zero Addr) = %v, want ErrBlocked", err)
	}
}

func TestCheckAddrAllowlist(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		allow []netip.Prefix
		addr  string
		ok    bool
	}{
		{"v4 loopback reopened", prefixes("127.0.0.0/8"), "127.0.0.1", true},
		{"whole range reopened", prefixes("127.0.0.0/8"), "127.9.8.7", true},
		{"mapped form of reopened", prefixes("127.0.0.0/8"), "::ffff:127.0.0.1", true},
		{"other private range stays shut", prefixes("127.0.0.0/8"), "10.0.0.1", false},
		{"v6 loopback stays shut", prefixes("127.0.0.0/8"), "::1", false},
		{"embedded in NAT64 stays shut", prefixes("127.0.0.0/8"), "64:ff9b::7f00:1", false},
		{"v6 loopback reopened", prefixes("127.0.0.0/8", "::1/128"), "::1", true},
		{"operator subnet", prefixes("10.1.2.0/24"), "10.1.2.3", true},
		{"next to operator subnet", prefixes("10.1.2.0/24"), "10.1.3.1", false},
		{"mapped allow prefix", prefixes("::ffff:10.0.0.0/104"), "10.200.0.1", true},
		{"unmasked allow prefix", prefixes("10.1.2.3/24"), "10.1.2.200", true},
		{"zoned address in allowed range", prefixes("fe80::/10"), "fe80::1%eth0", true},
		{"zoned address elsewhere", prefixes("fe80::/64"), "fe80:1::1%eth0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := NewGuard(tt.allow, &fakeResolver{}).CheckAddr(netip.MustParseAddr(tt.addr))
			if tt.ok && err != nil {
				t.Fatalf("CheckAddr(%s) with allow %v = %v, want nil", tt.addr, tt.allow, err)
			}
			if !tt.ok && !errors.Is(err, ErrBlocked) {
				t.Fatalf("CheckAddr(%s) with allow %v = %v, want ErrBlocked", tt.addr, tt.allow, err)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	hosts := map[string][]string{
		"internal.example":  {"10.0.0.5"},
		"mixed.example":     {"8.8.8.8", "10.0.0.5"},
		"hooks.example.com": {"8.8.4.4", "2606:4700::1111"},
		"nat64.example":     {"64:ff9b::a9fe:a9fe"},
	}
	tests := []struct {
		name    string
		allow   []netip.Prefix
		url     string
		want    error    // nil: accepted
		msg     string   // substring of the error message
		lookups []string // names the resolver must have been asked, in order
	}{
		{name: "ftp scheme", url: "ftp://example.com/", want: ErrInvalidURL, msg: `scheme "ftp"`},
		{name: "javascript scheme", url: "javascript:alert(1)", want: ErrInvalidURL, msg: `scheme "javascript"`},
		{name: "file scheme", url: "file:///etc/passwd", want: ErrInvalidURL, msg: `scheme "file"`},
		{name: "relative", url: "/hooks", want: ErrInvalidURL, msg: "absolute"},
		{name: "empty", url: "", want: ErrInvalidURL, msg: "absolute"},
		{name: "opaque", url: "http:example.com", want: ErrInvalidURL, msg: "form"},
		{name: "missing host", url: "http:///path", want: ErrInvalidURL, msg: "no host"},
		{name: "port only", url: "http://:8080/path", want: ErrInvalidURL, msg: "no host"},
		{name: "user and password", url: "https://user:pass@example.com/", want: ErrInvalidURL, msg: "credentials"},
		{name: "user only", url: "https://user@example.com/", want: ErrInvalidURL, msg: "credentials"},
		{name: "port 0", url: "http://example.com:0/", want: ErrInvalidURL, msg: "between 1 and 65535"},
		{name: "port 65536", url: "http://example.com:65536/", want: ErrInvalidURL, msg: "between 1 and 65535"},
		{name: "port not numeric", url: "http://example.com:http/", want: ErrInvalidURL, msg: "cannot parse"},
		{name: "space in host", url: "http://exa mple.com/", want: ErrInvalidURL, msg: "cannot parse"},
		{name: "underscore", url: "http://a_b.example/", want: ErrInvalidURL, msg: "does not resolve", lookups: []string{"a_b.example"}},
		{name: "non-ASCII host", url: "http://exämple.com/", want: ErrInvalidURL, msg: "punycode"},
		{name: "empty label", url: "http://a..example.com/", want: ErrInvalidURL, msg: "empty label"},
		{name: "IPv4 in brackets", url: "http://[127.0.0.1]/", want: ErrInvalidURL},
		{name: "decimal IPv4", url: "http://2130706433/", want: ErrInvalidURL, msg: "non-standard form"},
		{name: "octal IPv4", url: "http://0177.0.0.1/", want: ErrInvalidURL, msg: "non-standard form"},
		{name: "hex IPv4", url: "http://0x7f000001/", want: ErrInvalidURL, msg: "non-standard form"},
		{name: "hex dotted IPv4", url: "http://0x7f.1/", want: ErrInvalidURL, msg: "non-standard form"},
		{name: "short IPv4", url: "http://127.1/", want: ErrInvalidURL, msg: "non-standard form"},
		{name: "five parts", url: "http://1.2.3.4.5/", want: ErrInvalidURL, msg: "non-standard form"},
		{name: "trailing dot IPv4", url: "http://127.0.0.1./", want: ErrInvalidURL, msg: "non-standard form"},
		{name: "localhost", url: "http://localhost:8080/", want: ErrBlocked, msg: `"localhost" resolves to 127.0.0.1, which is in 127.0.0.0/8 (loopback)`},
		{name: "localhost FQDN", url: "http://LOCALHOST./", want: ErrBlocked, msg: "127.0.0.0/8"},
		{name: "localhost subdomain", url: "http://app.localhost/", want: ErrBlocked, msg: "127.0.0.0/8"},
		{name: "localhost needs v6 loopback allowed too", allow: prefixes("127.0.0.0/8"), url: "http://localhost/", want: ErrBlocked, msg: "::1/128"},
		{name: "localhost with both loopbacks allowed", allow: prefixes("127.0.0.0/8", "::1/128"), url: "http://localhost/"},
		{name: "v6 loopback literal", url: "http://[::1]:8080/", want: ErrBlocked, msg: "::1 is in ::1/128 (loopback)"},
		{name: "v4 loopback literal", url: "http://127.0.0.1/", want: ErrBlocked, msg: "127.0.0.1 is in 127.0.0.0/8"},
		{name: "metadata literal", url: "http://169.254.169.254/latest/meta-data/", want: ErrBlocked, msg: "169.254.0.0/16"},
		{name: "mapped loopback literal", url: "http://[::ffff:127.0.0.1]/", want: ErrBlocked, msg: "127.0.0.0/8"},
		{name: "zoned link-local literal", url: "http://[fe80::1%25eth0]/", want: ErrBlocked, msg: "fe80::/10"},
		{name: "name resolving to private", url: "https://internal.example/hook", want: ErrBlocked,
			msg: `"internal.example" resolves to 10.0.0.5, which is in 10.0.0.0/8 (private network)`, lookups: []string{"internal.example"}},
		{name: "name with one private address", url: "https://mixed.example/", want: ErrBlocked, msg: "10.0.0.5", lookups: []string{"mixed.example"}},
		{name: "name resolving to NAT64 metadata", url: "https://nat64.example/", want: ErrBlocked, msg: "embeds 169.254.169.254", lookups: []string{"nat64.example"}},
		{name: "name resolving to public", url: "https://hooks.example.com/in?token=x", lookups: []string{"hooks.example.com"}},
		{name: "upper-case name", url: "HTTPS://Hooks.Example.COM:8443/in", lookups: []string{"hooks.example.com"}},
		{name: "public literal", url: "https://8.8.8.8/"},
		{name: "public v6 literal", url: "http://[2606:4700::1111]:8080/"},
		{name: "empty port", url: "https://hooks.example.com:/in", lookups: []string{"hooks.example.com"}},
		{name: "allowed private literal", allow: prefixes("10.0.0.0/24"), url: "http://10.0.0.5:9000/"},
		{name: "allowed private name", allow: prefixes("10.0.0.0/24"), url: "http://internal.example/", lookups: []string{"internal.example"}},
		{name: "unknown name", url: "https://nxdomain.example/", want: ErrLookup, msg: "no such host", lookups: []string{"nxdomain.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &fakeResolver{hosts: hosts}
			err := NewGuard(tt.allow, r).CheckURL(context.Background(), tt.url)
			if tt.want == nil && err != nil {
				t.Fatalf("CheckURL(%q) = %v, want nil", tt.url, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
			if got := r.questions(); !slices.Equal(got, tt.lookups) {
				t.Errorf("resolver asked %q, want %q", got, tt.lookups)
			}
		})
	}
}

// A host that does not resolve is something the integrator must fix at registration, so it
// is an invalid URL there, yet still recognisable as a lookup failure.
func TestCheckURLLookupFailureIsInvalidURL(t *testing.T) {
	t.Parallel()
	err := NewGuard(nil, &fakeResolver{}).CheckURL(context.Background(), "https://nxdomain.example/")
	if !errors.Is(err, ErrInvalidURL) || !errors.Is(err, ErrLookup) || errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want ErrInvalidURL and ErrLookup, not ErrBlocked", err)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("err = %v, want the resolver's *net.DNSError kept", err)
	}
	want := `outbound: invalid URL: host "nxdomain.example" does not resolve: lookup nxdomain.example: no such host`
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
}

// The dialer's Control hook is the last line of defense; it must refuse on its own.
func TestControlRechecksDialAddress(t *testing.T) {
	t.Parallel()
	g := NewGuard(prefixes("127.0.0.0/8"), &fakeResolver{})
	tests := []struct {
		address string
		ok      bool
	}{
		{"127.0.0.1:8080", true},
		{"10.0.0.1:80", false},
		{"[::1]:80", false},
		{"[fe80::1%eth0]:80", false},
		{"169.254.169.254:80", false},
		{"8.8.8.8:443", true},
		{"not-an-address:80", false},
	}
	for _, tt := range tests {
		err := g.control("tcp", tt.address, nil)
		if tt.ok && err != nil {
			t.Errorf("control(%s) = %v, want nil", tt.address, err)
		}
		if !tt.ok && !errors.Is(err, ErrBlocked) {
			t.Errorf("control(%s) = %v, want ErrBlocked", tt.address, err)
		}
	}
}
