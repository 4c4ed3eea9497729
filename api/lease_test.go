package api_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/store/sqlite"
)

// TestExpiredLeaseIsSentAgainAndTheLateResultChangesNothing: a delivery claimed by a process that
// then stopped answering (another store on the node's database claims it and never sends it, as a
// node that died or hung would) keeps its lease until the lease ends; then the running node's
// recover-leases job makes it due again and the node sends it, under the same delivery id. When the
// first claimant reports its attempt at last (a 500), that late result is recorded as an attempt
// but changes nothing: the delivery stays succeeded, nothing is sent again, and the subscription is
// not marked failing.
//
// A lease ending under an attempt this node is still running cannot happen: the node extends the
// leases of its running attempts (TestLeaseOutlivesNoRunningAttempt).
func TestExpiredLeaseIsSentAgainAndTheLateResultChangesNothing(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	n := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	tn := n.NewTenant("lease", "")
	sub := subscribe(t, tn, rc.URL, nil)
	due := start.Add(time.Hour)
	ev := publish(t, tn, map[string]any{"deliver_at": due.Format(time.RFC3339)})
	d := deliveryOf(t, tn, ev.ID, "pending")

	// The other claimant: the same database, its own clock, ahead of the node's.
	ctx := context.Background()
	other, err := sqlite.Open(ctx, filepath.Join(n.DataDir, "switchyard.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const lease = time.Minute
	works, err := other.ClaimDue(ctx, engine.ClaimParams{Now: due, LeaseUntil: due.Add(lease), Limit: 10})
	if err != nil || len(works) != 1 || works[0].Delivery.ID != d.ID {
		t.Fatalf("the other claimant took %d deliveries (%v), want %s", len(works), err, d.ID)
	}

	// Past the delivery's time and the other's lease, to the next run of the recover-leases job.
	advance(t, clock, time.Hour+lease+30*time.Second)
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	if id := got.Header.Get("webhook-id"); id != d.ID {
		t.Fatalf("sent as %q, want the same delivery id %s", id, d.ID)
	}
	d = deliveryOf(t, tn, ev.ID, "succeeded")
	if d.Attempts != 1 || d.AttemptLog[0].ResponseStatus != http.StatusNoContent {
		t.Fatalf("after the node's attempt: %d attempts %+v", d.Attempts, d.AttemptLog)
	}

	// The first claimant's result arrives at last.
	late := &engine.Attempt{DeliveryID: d.ID, StartedAt: due, DurationMS: 1000, ResponseStatus: http.StatusInternalServerError,
		ResponseBody: "late", Outcome: "retry"}
	err = other.Complete(ctx, []*engine.Outcome{{Attempt: late, State: engine.DeliveryPending,
		NextAttemptAt: due.Add(time.Minute), SubscriptionID: sub.ID}})
	if err != nil {
		t.Fatalf("Complete the late attempt: %v", err)
	}
	tn.App.MustDo("GET", "/v1/deliveries/"+d.ID, nil, http.StatusOK, &d)
	if d.State != "succeeded" || d.Attempts != 2 {
		t.Errorf("after the late result: %s with %d attempts, want succeeded with 2", d.State, d.Attempts)
	}
	var s engine.Subscription
	tn.App.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &s)
	if s.State != engine.SubscriptionActive || s.FailingSince != nil {
		t.Errorf("the late failure marked the subscription: %s, failing since %v", s.State, s.FailingSince)
	}
	// Nothing is sent again: another run of the jobs and a poll later, still one request.
	advance(t, clock, 2*time.Minute)
	if reqs := len(rc.Requests()); reqs != 1 {
		t.Errorf("%d requests, want 1", reqs)
	}
}
