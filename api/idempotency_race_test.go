package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// TestSameIdempotencyKeyAtOnceInSeparateCommits: publishes with the same idempotency key, sent at
// the same moment, each committed in its own transaction (the node commits one publish per
// transaction here, so no two of them can share a commit and meet inside one): one event, and one
// delivery per subscription, whatever the order the commits came in.
func TestSameIdempotencyKeyAtOnceInSeparateCommits(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) { c.MaxIngestBatch = 1 }})
	rcA, rcB := nodetest.NewReceiver(t), nodetest.NewReceiver(t)
	tn := node.NewTenant("idem-race", "")
	subscribe(t, tn, rcA.URL, nil)
	subscribe(t, tn, rcB.URL, nil)

	const keys, each = 3, 8 // 24 publishes at once, 8 per key
	type answer struct {
		key    string
		status int
		p      engine.Published
		body   string
	}
	answers := make(chan answer, keys*each)
	go1 := make(chan struct{})
	var wg sync.WaitGroup
	for k := range keys {
		for i := range each {
			key := fmt.Sprintf("order-%d", k)
			wg.Go(func() {
				<-go1
				r := tn.App.Do("POST", "/v1/events", map[string]any{
					"account_id": tn.AccountID, "type": "client.update", "idempotency_key": key,
					"entity": map[string]string{"type": "client", "id": key}, "data": map[string]any{"publisher": i},
				})
				a := answer{key: key, status: r.Status, body: string(r.Body)}
				if r.Status == http.StatusAccepted {
					if err := json.Unmarshal(r.Body, &a.p); err != nil {
						a.status = 0 // reported by the test's goroutine
					}
				}
				answers <- a
			})
		}
	}
	close(go1)
	wg.Wait()
	close(answers)

	events := map[string]map[string]bool{} // key -> event ids answered
	firsts := map[string]int{}
	for a := range answers {
		if a.status != http.StatusAccepted {
			t.Fatalf("publish %s: %d %s", a.key, a.status, a.body)
		}
		if events[a.key] == nil {
			events[a.key] = map[string]bool{}
		}
		events[a.key][a.p.ID] = true
		switch {
		case !a.p.Duplicate && a.p.Deliveries == 2:
			firsts[a.key]++
		case a.p.Duplicate && a.p.Deliveries == 0:
		default:
			t.Errorf("publish %s: %+v; want the first with 2 deliveries, or a duplicate with none", a.key, a.p)
		}
	}
	for k := range keys {
		key := fmt.Sprintf("order-%d", k)
		if len(events[key]) != 1 || firsts[key] != 1 {
			t.Errorf("key %s: %d event ids, %d answers as the first; want 1 and 1", key, len(events[key]), firsts[key])
		}
		for id := range events[key] {
			var ev engine.Event
			tn.App.MustDo("GET", "/v1/events/"+id, nil, http.StatusOK, &ev)
			if ev.IdempotencyKey != key {
				t.Errorf("event %s has key %q, want %q", id, ev.IdempotencyKey, key)
			}
			var l listOf[delivery]
			tn.App.MustDo("GET", "/v1/deliveries?event_id="+id, nil, http.StatusOK, &l)
			if len(l.Data) != 2 {
				t.Errorf("event %s has %d deliveries, want 2 (one per subscription)", id, len(l.Data))
			}
		}
	}
	// Every delivery the account has: one per key and subscription; each receiver gets one
	// request per key.
	var all listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?limit=200", nil, http.StatusOK, &all)
	if len(all.Data) != 2*keys {
		t.Errorf("%d deliveries in all, want %d", len(all.Data), 2*keys)
	}
	waitForCount(t, tn, "succeeded", 2*keys)
	for name, rc := range map[string]*nodetest.Receiver{"A": rcA, "B": rcB} {
		ids := map[string]bool{}
		for _, r := range rc.WaitFor(t, keys, 10*time.Second) {
			ids[r.Header.Get("webhook-id")] = true
		}
		if n := len(rc.Requests()); n != keys || len(ids) != keys {
			t.Errorf("receiver %s got %d requests with %d delivery ids, want %d and %d", name, n, len(ids), keys, keys)
		}
	}
}
