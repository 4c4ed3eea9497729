package api_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

func TestRateLimitPerCredential(t *testing.T) {
	t.Parallel()
	const burst = 8
	node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) { c.RateLimit, c.RateBurst = 0.5, burst }})
	// NewTenant makes four admin calls each (account, app, grant, key): the admin token's burst is
	// spent here.
	limited, spared := node.NewTenant("limited", ""), node.NewTenant("spared", "")
	for range burst {
		limited.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	}
	r := limited.App.Do("GET", "/v1/subscriptions", nil)
	if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" {
		t.Fatalf("request past the burst: %d %s", r.Status, r.Body)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 2 {
		t.Errorf("Retry-After %q, want the 2 s a token takes at 0.5/s", r.Header.Get("Retry-After"))
	}
	spared.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	if r := node.Admin.Do("GET", "/v1/accounts", nil); r.Status != http.StatusTooManyRequests {
		t.Errorf("the admin token past its burst: %d", r.Status)
	}
	// A wrong credential is refused as unauthorized, and spends nobody's budget.
	if r := node.Client("crd_x.y").Do("GET", "/v1/subscriptions", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("a wrong credential: %d", r.Status)
	}
}
