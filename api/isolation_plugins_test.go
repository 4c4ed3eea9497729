package api_test

import (
	"net/http"
	"strings"
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

// TestLoopingPluginQuarantined: an uploaded plugin whose calls keep timing out is quarantined, and
// says so in GET /v1/plugins and GET /v1/plugins/{name}; its deliveries wait without being
// attempted or dropped, and once a fixed version is uploaded, every one of them arrives.
func TestLoopingPluginQuarantined(t *testing.T) {
	t.Parallel()
	const events = 12
	loops, fixed := runtimetest.Build(t, "testdata/loopy/loops"), runtimetest.Build(t, "testdata/loopy/fixed")
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Runtime.PoolSize = 2
		c.Runtime.QuarantineFor = 2 * time.Second
	}})
	n.Admin.MustDo("PUT", "/v1/plugins/loopy", loops, http.StatusCreated, nil)
	a := n.NewTenant("looper", "")
	rc := nodetest.NewReceiver(t)
	schedule := make([]string, 40)
	for i := range schedule {
		schedule[i] = "1s"
	}
	sub := subscribe(t, a, rc.URL, map[string]any{"format": "loopy", "events": []string{"*"},
		"retry_policy": map[string]any{"schedule": schedule}})
	for i := range events {
		publish(t, a, map[string]any{"type": loopy.LoopType, "data": map[string]any{"n": i}})
	}

	var info custom.Info
	deadline := time.Now().Add(2 * time.Minute)
	for info.Quarantine == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin was not quarantined: %+v", info)
		}
		time.Sleep(20 * time.Millisecond)
		info = custom.Info{}
		n.Admin.MustDo("GET", "/v1/plugins/loopy", nil, http.StatusOK, &info)
	}
	q, st := info.Quarantine, info.Stats
	t.Logf("quarantine %+v; stats %+v", *q, *st)
	if q.ConsecutiveTraps < 5 || !strings.Contains(q.LastTrap, "timeout") || !q.Until.After(time.Now().Add(-time.Minute)) {
		t.Errorf("quarantine %+v: want 5 or more traps in a row, the last a timeout", *q)
	}
	if st.Capacity != 2 || st.InUse > st.Capacity || st.Quarantines < 1 || st.ConsecutiveTraps < 5 {
		t.Errorf("stats %+v: want capacity 2, a quarantine and its traps", *st)
	}

	var list pluginList
	n.Admin.MustDo("GET", "/v1/plugins", nil, http.StatusOK, &list)
	listed := false
	for _, p := range list.Data {
		if p.Name == "loopy" {
			listed = p.Quarantine != nil && p.Stats != nil && p.Stats.Capacity == 2
		} else if p.Quarantine != nil {
			t.Errorf("plugin %s is quarantined too", p.Name)
		}
	}
	if !listed {
		t.Errorf("GET /v1/plugins does not show loopy's quarantine and concurrency: %+v", list.Data)
	}
	// Integrators see that the format is quarantined, not why: the trap may quote another
	// tenant's event.
	var seen custom.Info
	a.App.MustDo("GET", "/v1/plugins/loopy", nil, http.StatusOK, &seen)
	if seen.Quarantine == nil || seen.Quarantine.LastTrap != "" || seen.Stats != nil {
		t.Errorf("an integrator sees %+v", seen)
	}

	// Nothing was dropped: deliveries are pending, retried, or put back unattempted.
	var ds listOf[delivery]
	a.App.MustDo("GET", "/v1/deliveries?limit=100&subscription_id="+sub.ID, nil, http.StatusOK, &ds)
	if len(ds.Data) != events {
		t.Fatalf("%d deliveries, want %d", len(ds.Data), events)
	}
	for _, d := range ds.Data {
		if d.State == "failed" || d.State == "dead" {
			t.Errorf("delivery %s is %s after %d attempts", d.ID, d.State, d.Attempts)
		}
	}
	var refused custom.Info
	n.Admin.MustDo("GET", "/v1/plugins/loopy", nil, http.StatusOK, &refused)
	if refused.Stats.Refused == 0 {
		t.Errorf("stats %+v: no delivery was put back without running", *refused.Stats)
	}

	// A fixed version serves at once, and every waiting delivery arrives.
	n.Admin.MustDo("PUT", "/v1/plugins/loopy", fixed, http.StatusOK, nil)
	var after custom.Info
	n.Admin.MustDo("GET", "/v1/plugins/loopy", nil, http.StatusOK, &after)
	if after.Quarantine != nil || after.Version != "2.0.0" {
		t.Errorf("after the upload of the fixed version: %+v", after)
	}
	rc.WaitFor(t, events, 2*time.Minute)
	for _, d := range ds.Data {
		deliveryOf(t, a, d.EventID, "succeeded")
	}
}
