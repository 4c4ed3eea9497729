package api_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// switchingResolver answers what the test says, and can change its answer: DNS rebinding.
type switchingResolver struct {
	mu    sync.Mutex
	hosts map[string]string
}

func (r *switchingResolver) set(host, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[host] = addr
}

func (r *switchingResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.hosts[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestSSRFRefusedAtRegistration: with no allowlist, the native API refuses subscriptions to
// every private form, naming why, and stores nothing.
func TestSSRFRefusedAtRegistration(t *testing.T) {
	t.Parallel()
	resolver := &switchingResolver{hosts: map[string]string{"intranet.test": "10.0.0.8"}}
	node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) { c.AllowPrivate, c.Resolver = nil, resolver }})
	tn := node.NewTenant("ssrf", "")
	for _, target := range []string{
		"http://127.0.0.1/", "http://localhost/", "http://0.0.0.0/", "http://[::1]/", "http://10.0.0.1/",
		"http://172.16.0.1/", "http://192.168.0.1/", "http://169.254.169.254/", "http://100.64.0.1/",
		"http://[fc00::1]/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://2130706433/",
		"http://0177.0.0.1/", "http://intranet.test/",
	} {
		r := tn.App.Do("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"*"}, "url": target})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "url") {
			t.Errorf("%s: %d %s", target, r.Status, r.Body)
		}
	}
	var l listOf[map[string]any]
	tn.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, &l)
	if len(l.Data) != 0 {
		t.Errorf("%d subscriptions stored", len(l.Data))
	}
}

// TestSSRFRebindingIsBlockedAtConnect: a hostname that was public when the subscription was made
// and resolves to loopback when the delivery is sent is refused at connect time; allowing exactly
// that address lets it through.
func TestSSRFRebindingIsBlockedAtConnect(t *testing.T) {
	t.Parallel()
	for _, allowed := range []bool{false, true} {
		resolver := &switchingResolver{hosts: map[string]string{"rebind.test": "93.184.216.34"}}
		node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
			c.AllowPrivate, c.Resolver = nil, resolver
			if allowed {
				c.AllowPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			}
		}})
		rc := nodetest.NewReceiver(t)
		tn := node.NewTenant("rebind", "")
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
		// Registration resolves rebind.test to a public address; nothing is sent to it.
		subscribe(t, tn, "http://rebind.test:"+port+"/hook", map[string]any{"retry_policy": map[string]any{"schedule": []string{}}})
		resolver.set("rebind.test", "127.0.0.1")
		ev := publish(t, tn, nil)
		if allowed {
			rc.WaitFor(t, 1, 10*time.Second)
			deliveryOf(t, tn, ev.ID, "succeeded")
			continue
		}
		d := deliveryOf(t, tn, ev.ID, "dead")
		if len(d.AttemptLog) != 1 || !strings.Contains(d.AttemptLog[0].Error, "resolves to 127.0.0.1, which is in 127.0.0.0/8 (loopback)") {
			t.Errorf("attempt %+v", d.AttemptLog)
		}
		if n := len(rc.Requests()); n != 0 {
			t.Errorf("the receiver behind the rebound name got %d requests", n)
		}
	}
}

// TestRedirectsAreNotFollowed: a receiver answering 302 towards a private address gets its 302
// recorded and retried; the redirect is never followed.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	target := nodetest.NewReceiver(t)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		return http.StatusFound, http.Header{"Location": {target.URL + "/internal"}}, ""
	})
	tn := node.NewTenant("redirect", "")
	subscribe(t, tn, rc.URL, map[string]any{"retry_policy": map[string]any{"schedule": []string{"10ms"}}})
	ev := publish(t, tn, nil)
	d := deliveryOf(t, tn, ev.ID, "dead")
	if len(d.AttemptLog) != 2 || d.AttemptLog[0].ResponseStatus != http.StatusFound {
		t.Errorf("attempts %+v", d.AttemptLog)
	}
	if n := len(target.Requests()); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}
