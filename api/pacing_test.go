package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// TestSubscriptionRateDelaysNeverDrops: a subscription capped at one delivery a second gets a
// burst of five events one per second of (test) time, all of them.
func TestSubscriptionRateDelaysNeverDrops(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("paced", "")
	subscribe(t, tn, rc.URL, map[string]any{"max_per_second": 1})
	for i := range 5 {
		publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": fmt.Sprint(i)}})
	}
	rc.WaitFor(t, 1, 10*time.Second)
	// The other four wait in the store, each due at its own second.
	waitForCount(t, tn, "pending", 4)
	for n := 2; n <= 5; n++ {
		clock.Advance(time.Second)
		rc.WaitFor(t, n, 10*time.Second)
		time.Sleep(100 * time.Millisecond)
		if got := len(rc.Requests()); got != n {
			t.Fatalf("after %d s of test time %d deliveries arrived, want %d", n-1, got, n)
		}
	}
	waitForCount(t, tn, "succeeded", 5)
	// Waiting is not an attempt.
	var l listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?status=succeeded", nil, http.StatusOK, &l)
	for _, d := range l.Data {
		if d.Attempts != 1 {
			t.Errorf("delivery %s took %d attempts", d.ID, d.Attempts)
		}
	}
	if r := tn.App.Do("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"*"}, "url": rc.URL, "max_per_second": -1}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("negative cap: %d", r.Status)
	}
}

func waitForCount(t *testing.T, tn *nodetest.Tenant, state string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var l listOf[delivery]
		tn.App.MustDo("GET", "/v1/deliveries?status="+state, nil, http.StatusOK, &l)
		if len(l.Data) == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never %d deliveries %s", n, state)
}
