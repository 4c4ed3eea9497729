package api_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
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

// TestStopStartsNothingThatWaited: a receiver answers after 300 ms and its subscription has one
// slot; with one delivery in flight and three waiting in the node's gate, the node stops. The one
// in flight finishes within the grace period; the three waiting are not sent in the slot it frees
// but go back to the store, due.
func TestStopStartsNothingThatWaited(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Dispatcher.MaxPerSubscription = 1
	}})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		time.Sleep(300 * time.Millisecond)
		return http.StatusNoContent, nil, ""
	})
	tn := n.NewTenant("slow", "")
	subscribe(t, tn, rc.URL, nil)
	publishMany(t, tn, 4)
	rc.WaitFor(t, 1, 30*time.Second)
	waitForCount(t, tn, "in_flight", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(rc.Requests()); got != 1 {
		t.Errorf("%d requests during the stop, want the 1 in flight", got)
	}
	db, err := sqlx.Open("sqlite3", filepath.Join(n.DataDir, "switchyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var states []string
	if err := db.Select(&states, `SELECT state FROM deliveries ORDER BY state`); err != nil {
		t.Fatal(err)
	}
	if want := []string{"pending", "pending", "pending", "succeeded"}; !slices.Equal(states, want) {
		t.Errorf("after the stop: %v, want %v", states, want)
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

// TestPerHostCap: two subscriptions of two accounts send to one hanging host; together they hold
// no more than the cap per host, though each may have more in flight on its own, and a receiver
// on another host gets all its deliveries meanwhile.
func TestPerHostCap(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Dispatcher.DeliveryTimeout = 10 * time.Minute
		c.Dispatcher.MaxPerSubscription = 4
		c.Dispatcher.MaxPerHost = 3
		c.AllowPrivate = append(c.AllowPrivate, netip.MustParsePrefix("127.0.0.2/32"))
	}})
	hung := nodetest.NewHanging(t)
	for _, name := range []string{"one", "two"} {
		tn := n.NewTenant(name, "")
		subscribe(t, tn, hung.URL, nil)
		publishMany(t, tn, 20)
	}
	hung.WaitFor(t, 3, 30*time.Second)

	rc := nodetest.NewReceiverAt(t, "127.0.0.2:0")
	other := n.NewTenant("other host", "")
	subscribe(t, other, rc.URL, nil)
	const want = 10
	publishMany(t, other, want)
	rc.WaitFor(t, want, 60*time.Second)
	accepted, abandoned, peak := hung.Counts()
	if accepted != 3 || peak != 3 || abandoned != 0 {
		t.Fatalf("hanging host: %d requests, %d at once, %d abandoned; want 3, 3, 0", accepted, peak, abandoned)
	}
	t.Logf("2 subscriptions x 20 deliveries to one hung host (cap 4 each, 3 per host): %d held at once; the other host got %d of %d", peak, len(rc.Requests()), want)
}

type circuitView struct {
	Circuit struct {
		State    string     `json:"state"`
		Until    *time.Time `json:"until"`
		Timeouts int        `json:"timeouts"`
	} `json:"circuit"`
}

// TestCircuitBreaker: a receiver that keeps timing out opens its subscription's circuit; while
// open, its deliveries wait (not attempted, not dropped); half open, one probe goes; a probe that
// times out opens it for twice as long; one answered closes it, and every delivery arrives.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	n := nodetest.Start(t, nodetest.Options{Clock: clock, Configure: func(c *node.Config) {
		c.Dispatcher.DeliveryTimeout = 300 * time.Millisecond // real time: the client's own deadline
		c.Dispatcher.MaxPerSubscription = 1                   // one attempt at a time, so they count exactly
		c.Dispatcher.BreakerThreshold = 3
		c.Dispatcher.BreakerCooldown = time.Minute
	}})
	rc := nodetest.NewReceiver(t)
	var hang atomic.Bool
	hang.Store(true)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		if hang.Load() {
			time.Sleep(time.Second) // the sender gives up after 300 ms
		}
		return http.StatusOK, nil, ""
	})
	tn := n.NewTenant("breaker", "")
	sub := subscribe(t, tn, rc.URL, nil)
	const events = 10
	publishMany(t, tn, events)
	circuit := func() circuitView {
		var v circuitView
		tn.App.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &v)
		return v
	}
	// Over the cap, deliveries come back a second (of test time) later: move time a second at a
	// time until the circuit opens.
	step := func(until func() bool, what string) {
		t.Helper()
		for i := 0; !until(); i++ {
			if i > 500 {
				t.Fatalf("never %s: %d requests, circuit %+v", what, len(rc.Requests()), circuit().Circuit)
			}
			clock.Advance(time.Second)
			time.Sleep(20 * time.Millisecond)
		}
	}
	step(func() bool { return circuit().Circuit.State == "open" }, "open")
	opened := circuit().Circuit
	if got := len(rc.Requests()); got != 3 || opened.Timeouts != 3 {
		t.Fatalf("circuit opened after %d requests, %d timeouts; want 3", got, opened.Timeouts)
	}
	// While open nothing is sent, though retries and the 7 untried deliveries come due.
	for clock.Now().Add(time.Second).Before(*opened.Until) {
		clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(rc.Requests()); got != 3 {
		t.Fatalf("%d requests while the circuit was open; want 3", got)
	}
	var pending listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?status=pending&limit=100", nil, http.StatusOK, &pending)
	if len(pending.Data) != events {
		t.Fatalf("%d deliveries pending while open; want all %d", len(pending.Data), events)
	}
	// Half open: one probe, which times out: open again, for two minutes.
	step(func() bool { return len(rc.Requests()) == 4 && circuit().Circuit.State == "open" }, "probed and open again")
	reopened := circuit().Circuit
	if d := reopened.Until.Sub(*opened.Until); d < 2*time.Minute {
		t.Errorf("reopened until %v, %v after the first; want 2 minutes after the probe", reopened.Until, d)
	}
	// The receiver recovers: the next probe closes the circuit, and everything arrives.
	hang.Store(false)
	step(func() bool {
		var l listOf[delivery]
		tn.App.MustDo("GET", "/v1/deliveries?status=succeeded&limit=100", nil, http.StatusOK, &l)
		return len(l.Data) == events
	}, "all delivered")
	if c := circuit().Circuit; c.State != "closed" {
		t.Errorf("after recovery the circuit is %+v", c)
	}
	var dead listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?status=dead", nil, http.StatusOK, &dead)
	if len(dead.Data) != 0 {
		t.Errorf("%d dead deliveries", len(dead.Data))
	}
	t.Logf("opened after 3 timeouts until +%v; 0 requests while open; failed probe reopened for %v; %d requests in all for %d deliveries, all delivered",
		opened.Until.Sub(start), reopened.Until.Sub(*opened.Until), len(rc.Requests()), events)
}

// TestLeaseOutlivesNoRunningAttempt (issue 15, finding 3): the receiver hangs longer than the
// lease; the test clock moves far past the lease's end while the attempt still waits, through
// twenty runs of the recover-leases job; the delivery is never handed out again. Nor are the two
// behind it, waiting in the node's gate for the subscription's one slot: their leases are kept too.
// When the node stops, all three go back to the store, due, with no lease.
func TestLeaseOutlivesNoRunningAttempt(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	n := nodetest.Start(t, nodetest.Options{Clock: clock, Configure: func(c *node.Config) {
		c.Dispatcher.DeliveryTimeout = 10 * time.Minute // real time: longer than the test
		c.Dispatcher.Lease = 2 * time.Minute
		c.Dispatcher.MaxPerSubscription = 1
	}})
	hung := nodetest.NewHanging(t)
	tn := n.NewTenant("slow", "")
	subscribe(t, tn, hung.URL, nil)
	publishMany(t, tn, 3)
	hung.WaitFor(t, 1, 30*time.Second)
	waitForCount(t, tn, "in_flight", 3)
	for range 20 { // 10 minutes of test time, the job every 30 s
		clock.Advance(30 * time.Second)
		time.Sleep(30 * time.Millisecond)
	}
	waitForCount(t, tn, "in_flight", 3)
	if accepted, _, _ := hung.Counts(); accepted != 1 {
		t.Fatalf("%d requests while the first attempt was still waiting, want 1", accepted)
	}
	if strings.Contains(n.Logs.String(), "recovered expired leases") {
		t.Error("the recover-leases job took back a lease under a running or waiting delivery")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("sqlite3", filepath.Join(n.DataDir, "switchyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left []struct {
		State       string        `db:"state"`
		LeaseOwner  string        `db:"lease_owner"`
		NextAttempt int64         `db:"next_attempt_at"`
		LeaseUntil  sql.NullInt64 `db:"lease_until"`
	}
	if err := db.Select(&left, `SELECT state, lease_owner, next_attempt_at, lease_until FROM deliveries`); err != nil {
		t.Fatal(err)
	}
	now := clock.Now().UnixMilli()
	for _, d := range left {
		if d.State != "pending" || d.LeaseOwner != "" || d.LeaseUntil.Valid || d.NextAttempt > now {
			t.Errorf("after the stop: %+v; want pending, due by %d, unleased", d, now)
		}
	}
	if len(left) != 3 {
		t.Errorf("%d deliveries in the store, want 3", len(left))
	}
}
