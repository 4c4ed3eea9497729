package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// TestSubscriptionRateDelaysNeverDrops: a subscription capped at one delivery a second gets a
// burst of five events one per second of (test) time, all of them. The clock moves only when the
// test moves it, so the start time each attempt records says exactly when it was sent: one at
// each of the seconds 0 to 4, none earlier, none twice. The order among the five is the order in
// which the dispatcher took them up, each in its own goroutine; the engine does not promise that
// it is the order they were published in, and a run under load has seen it differ.
func TestSubscriptionRateDelaysNeverDrops(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("paced", "")
	subscribe(t, tn, rc.URL, map[string]any{"max_per_second": 1})
	for i := range 5 {
		publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": fmt.Sprint(i)}, "data": map[string]any{"n": i}})
	}
	rc.WaitFor(t, 1, 10*time.Second)
	// The other four wait in the store, each due at its own second.
	waitForCount(t, tn, "pending", 4)
	for n := 2; n <= 5; n++ {
		advance(t, clock, time.Second)
		rc.WaitFor(t, n, 10*time.Second)
	}
	waitForCount(t, tn, "succeeded", 5)
	// Each event once, each at its own second of test time; waiting is not an attempt.
	reqs := rc.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	events, seconds := map[int]bool{}, map[time.Duration]bool{}
	for i, r := range reqs {
		var body struct{ Data struct{ N int } }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("request %d: %s: %v", i+1, r.Body, err)
		}
		events[body.Data.N] = true
		var d delivery
		tn.App.MustDo("GET", "/v1/deliveries/"+r.Header.Get("webhook-id"), nil, http.StatusOK, &d)
		if d.Attempts != 1 || len(d.AttemptLog) != 1 {
			t.Fatalf("delivery %s took %d attempts", d.ID, d.Attempts)
		}
		// Request i arrived after the clock had moved i seconds, and no earlier.
		at := d.AttemptLog[0].StartedAt.Sub(start)
		if at != time.Duration(i)*time.Second {
			t.Errorf("request %d (event %d) was sent at %s of test time, want %ds", i+1, body.Data.N, at, i)
		}
		seconds[at] = true
	}
	if len(events) != 5 || len(seconds) != 5 {
		t.Errorf("%d distinct events sent at %d distinct seconds, want 5 and 5", len(events), len(seconds))
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
