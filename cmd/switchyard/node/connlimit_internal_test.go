package node

import (
	"net"
	"testing"
)

func TestClientKeyCountsAnIPv6ClientByItsSlash64(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
		{"192.0.2.7", "::ffff:192.0.2.7"},
	} {
		ka := clientKey(&net.TCPAddr{IP: net.ParseIP(c.a)})
		kb := clientKey(&net.TCPAddr{IP: net.ParseIP(c.b)})
		if ka != kb || !ka.IsValid() {
			t.Errorf("%s and %s count as %v and %v, want one client", c.a, c.b, ka, kb)
		}
	}
	other := clientKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1")})
	if other == clientKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1")}) {
		t.Error("two /64s count as one client")
	}
}
