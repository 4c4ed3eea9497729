package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// TestRateLimitPerCredential runs the limiter on a test clock that stands still unless the test
// moves it, so every figure is exact: a burst of 8 at 0.5 requests/s, then 429 with Retry-After: 2
// (the 2 s the next token takes), and one more request once the clock has moved 2 s.
func TestRateLimitPerCredential(t *testing.T) {
	t.Parallel()
	const burst = 8
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	node := nodetest.Start(t, nodetest.Options{Clock: clock, Configure: func(c *node.Config) { c.RateLimit, c.RateBurst = 0.5, burst }})
	// NewTenant makes four admin calls each (account, app, grant, key): the admin token's burst is
	// spent here.
	limited, spared := node.NewTenant("limited", ""), node.NewTenant("spared", "")
	for range burst {
		limited.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	}
	tooMany := func(who string, c *nodetest.Client) {
		t.Helper()
		r := c.Do("GET", "/v1/subscriptions", nil)
		if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" || r.Header.Get("Retry-After") != "2" {
			t.Fatalf("%s past its burst: %d, Retry-After %q, %s; want 429 rate_limited, Retry-After 2", who, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	tooMany("the limited credential", limited.App)
	if r := node.Admin.Do("GET", "/v1/accounts", nil); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" {
		t.Errorf("the admin token past its burst: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}

	// A real credential id with a wrong secret, many times: each refused as unauthorized, never
	// as rate limited, and the credential's budget is untouched: its own secret then gets its
	// whole burst, and no more.
	id, secret, _ := strings.Cut(spared.Token, ".")
	for i := range 3 * burst {
		wrong := node.Client(id + "." + strings.Repeat("x", len(secret)))
		if i%2 == 1 {
			wrong = node.Client(id + "." + secret + "x")
		}
		if r := wrong.Do("GET", "/v1/subscriptions", nil); r.Status != http.StatusUnauthorized || r.ErrorCode() != "unauthorized" {
			t.Fatalf("wrong secret for %s, try %d: %d %s; want 401", id, i+1, r.Status, r.Body)
		}
	}
	for i := range burst {
		if r := spared.App.Do("GET", "/v1/subscriptions", nil); r.Status != http.StatusOK {
			t.Fatalf("the right secret after %d wrong ones, request %d of its burst: %d %s", 3*burst, i+1, r.Status, r.Body)
		}
	}
	tooMany("the spared credential", spared.App)
	// A wrong secret for a credential that has spent its budget is still a 401: the secret is
	// checked before the budget, so a stranger learns nothing from the answer.
	if r := node.Client(id+".wrong").Do("GET", "/v1/subscriptions", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong secret for a limited credential: %d %s", r.Status, r.Body)
	}

	// 2 s later there is one token: one request, then 429 again.
	clock.Advance(2 * time.Second)
	limited.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	tooMany("the limited credential, 2 s later", limited.App)
}
