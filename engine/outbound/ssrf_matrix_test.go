package outbound

import (
	"context"
	"errors"
	"testing"
)

// ssrfTargets are the target forms that must never be reached by default: the list the
// reliability table (RELIABILITY.md) counts. "private.test" resolves, through a resolver the test
// controls, to a private address.
var ssrfTargets = []string{
	"http://127.0.0.1/", "http://localhost/", "http://0.0.0.0/", "http://[::1]/",
	"http://10.1.2.3/", "http://172.16.0.1/", "http://172.31.255.254/", "http://192.168.1.1/",
	"http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://[fc00::1]/",
	"http://[fd12:3456::1]/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
	"http://2130706433/", "http://0177.0.0.1/", "http://0x7f000001/", "http://127.1/",
	"http://private.test/", "https://private.test:8443/path",
}

var matrixResolver = &fakeResolver{hosts: map[string][]string{"private.test": {"10.9.8.7"}}}

// TestSSRFMatrixIsRefusedAtRegistrationAndAtConnect checks each form with CheckURL (registration)
// and with Do (connect time), where the client must refuse before dialing anything.
func TestSSRFMatrixIsRefusedAtRegistrationAndAtConnect(t *testing.T) {
	t.Parallel()
	guard := NewGuard(nil, matrixResolver)
	c, dials := newTestClient(t, Config{Guard: guard})
	for _, target := range ssrfTargets {
		if err := guard.CheckURL(context.Background(), target); !errors.Is(err, ErrBlocked) && !errors.Is(err, ErrInvalidURL) {
			t.Errorf("registration accepted %s: %v", target, err)
		}
		_, err := c.Do(context.Background(), &Request{URL: target, Body: []byte("{}")})
		if !errors.Is(err, ErrBlocked) && !errors.Is(err, ErrInvalidURL) {
			t.Errorf("connect time did not refuse %s: %v", target, err)
		}
	}
	if d := dials.list(); len(d) != 0 {
		t.Errorf("the client dialed %v", d)
	}
}

// TestAllowlistReopensExactlyWhatItNames: allowing 10.9.8.0/24 re-opens private.test (10.9.8.7)
// and 10.9.8.1, and nothing else on the list.
func TestAllowlistReopensExactlyWhatItNames(t *testing.T) {
	t.Parallel()
	guard := NewGuard(prefixes("10.9.8.0/24"), matrixResolver)
	reopened := map[string]bool{"http://private.test/": true, "https://private.test:8443/path": true}
	for _, target := range append(ssrfTargets, "http://10.9.8.1/") {
		err := guard.CheckURL(context.Background(), target)
		want := reopened[target] || target == "http://10.9.8.1/"
		if (err == nil) != want {
			t.Errorf("with 10.9.8.0/24 allowed, %s: %v (want allowed=%v)", target, err, want)
		}
	}
}
