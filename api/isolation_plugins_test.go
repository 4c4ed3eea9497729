package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/api/testdata/loopy"
	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// loopyCalls is how many calls the loopy plugin has taken so far (its dry run included).
func loopyCalls(t *testing.T, n *nodetest.Node) int64 {
	t.Helper()
	var info custom.Info
	n.Admin.MustDo("GET", "/v1/plugins/loopy", nil, http.StatusOK, &info)
	return info.Stats.Calls
}

// TestLoopingPluginStallsNoOtherTenant: account A's subscription uses an uploaded, sandboxed
// plugin that never returns from shape for one event type, and A publishes a backlog of such
// events; account B then publishes to subscriptions in built-in formats. Every one of B's
// deliveries must arrive while A's backlog is still mostly unattempted.
//
// The bound is an ordering, not a time: deliveries are claimed oldest due first, so a dispatcher
// whose slots all wait on the looping plugin's instances claims B's work only after all of A's
// first attempts have been claimed, that is after at least looping-concurrency of them ran their
// full call deadline. B's work must not wait for that.
func TestLoopingPluginStallsNoOtherTenant(t *testing.T) {
	t.Parallel()
	const (
		concurrency = 16
		looping     = 48 // A's events, each a call that loops until the sandbox deadline cuts it off
		healthy     = 8  // B's events, each delivered to two subscriptions
	)
	wasm := runtimetest.Build(t, "testdata/loopy/loops")
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Dispatcher.Concurrency = concurrency
		c.Runtime.PoolSize = 4
	}})
	n.Admin.MustDo("PUT", "/v1/plugins/loopy", wasm, http.StatusCreated, nil)

	a := n.NewTenant("looper", "")
	aRC := nodetest.NewReceiver(t)
	// One attempt each, retried much later: A's first attempts are what this test counts.
	subscribe(t, a, aRC.URL, map[string]any{"format": "loopy", "events": []string{"*"},
		"retry_policy": map[string]any{"schedule": []string{"1h"}}})

	b := n.NewTenant("bystander", "")
	bRC := nodetest.NewReceiver(t)
	subscribe(t, b, bRC.URL+"/standard", map[string]any{"format": "standard", "events": []string{"client.*"}})
	subscribe(t, b, bRC.URL+"/upsales", map[string]any{"format": "upsales", "events": []string{"client.create"}})

	before := loopyCalls(t, n)
	for i := range looping {
		publish(t, a, map[string]any{"type": loopy.LoopType, "data": map[string]any{"n": i}})
	}
	bStart := time.Now()
	for i := range healthy {
		publish(t, b, map[string]any{"data": map[string]any{"n": i}})
	}

	// Read B's count first and A's calls after: the calls read can only overstate how many ran
	// before B's last delivery arrived.
	deadline := time.Now().Add(3 * time.Minute)
	for len(bRC.Requests()) < 2*healthy {
		if time.Now().After(deadline) {
			t.Fatalf("B got %d of %d deliveries; the looping plugin took %d calls", len(bRC.Requests()), 2*healthy, loopyCalls(t, n)-before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	attempted := loopyCalls(t, n) - before
	got := bRC.Requests()
	t.Logf("all %d of B's deliveries arrived after %d of A's %d looping deliveries were attempted; the last %v after B began publishing",
		2*healthy, attempted, looping, got[len(got)-1].At.Sub(bStart).Round(time.Millisecond))
	if attempted >= looping-concurrency {
		t.Errorf("B's deliveries arrived only after %d of A's looping deliveries had been attempted (%d or more means B waited for A's backlog)", attempted, looping-concurrency)
	}
	if got := len(aRC.Requests()); got != 0 {
		t.Errorf("A's receiver got %d requests from a plugin that never returns", got)
	}
}
