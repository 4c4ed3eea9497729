package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// publishMany publishes n client.create events into tn's account, in batches.
func publishMany(t *testing.T, tn *nodetest.Tenant, n int) {
	t.Helper()
	for sent := 0; sent < n; {
		var batch []map[string]any
		for ; sent < n && len(batch) < 500; sent++ {
			batch = append(batch, map[string]any{"account_id": tn.AccountID, "type": "client.create",
				"entity": map[string]string{"type": "client", "id": fmt.Sprint(sent)}, "data": map[string]any{"n": sent}})
		}
		tn.App.MustDo("POST", "/v1/events/batch", map[string]any{"events": batch}, http.StatusAccepted, nil)
	}
}

// TestHungReceiverDelaysOnlyItsOwn (issue 15, finding 1): account A's receiver accepts connections
// and never answers, with 600 deliveries queued to it; account B's deliveries, published after,
// all arrive while every one of A's requests is still open. It asserts that order, not a time: the
// hung requests could only close by timing out (ten minutes) or by the node giving up on them.
func TestHungReceiverDelaysOnlyItsOwn(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Dispatcher.DeliveryTimeout = 10 * time.Minute
	}})
	hung := nodetest.NewHanging(t)
	a := n.NewTenant("hung", "")
	subscribe(t, a, hung.URL, nil)
	publishMany(t, a, 600)
	hung.WaitFor(t, 1, 30*time.Second)

	rc := nodetest.NewReceiver(t)
	b := n.NewTenant("healthy", "")
	subscribe(t, b, rc.URL, nil)
	const want = 50
	publishMany(t, b, want)
	// A generous bound that only a stalled dispatcher reaches; the assertion is the order below.
	rc.WaitFor(t, want, 60*time.Second)

	accepted, abandoned, peak := hung.Counts()
	if abandoned != 0 {
		t.Fatalf("%d of A's hung requests ended before B's %d deliveries all arrived", abandoned, want)
	}
	if limit := (engine.DispatcherConfig{}).WithDefaults().MaxPerSubscription; peak > limit {
		t.Errorf("A's receiver held %d requests at once, over the cap of %d per subscription", peak, limit)
	}
	t.Logf("A: 600 queued, %d sent and hung (at most %d at once), none ended; B: %d of %d arrived", accepted, peak, len(rc.Requests()), want)
}
