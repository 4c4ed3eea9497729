package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// TestExpiredLeaseIsSentAgainAndTheLateResultChangesNothing: a receiver hangs on the first request
// while the node runs. Once the delivery's lease has expired on the test clock, the recover-leases
// job makes it due again and it is sent again under the same delivery id; the receiver answers that
// one 204. When the hung request is let go and answers 500, that late result is recorded as an
// attempt but changes nothing: the delivery stays succeeded, nothing is sent a third time, and the
// subscription is not marked failing.
func TestExpiredLeaseIsSentAgainAndTheLateResultChangesNothing(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	const timeout = 2 * time.Minute // real time: the hung request must outlive the test's steps
	node := nodetest.Start(t, nodetest.Options{Clock: clock, Configure: func(c *node.Config) { c.Dispatcher.DeliveryTimeout = timeout }})
	lease := engine.DispatcherConfig{DeliveryTimeout: timeout}.WithDefaults().Lease

	rc := nodetest.NewReceiver(t)
	hung := make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(hung)
		}
	}
	t.Cleanup(release) // before the receiver closes: Close waits for the hung request
	rc.SetRespond(func(n int, _ *nodetest.Request) (int, http.Header, string) {
		if n == 0 {
			<-hung
			return http.StatusInternalServerError, nil, "late"
		}
		return http.StatusNoContent, nil, ""
	})
	tn := node.NewTenant("lease", "")
	sub := subscribe(t, tn, rc.URL, nil)
	ev := publish(t, tn, nil)
	first := rc.WaitFor(t, 1, 10*time.Second)[0]
	d := deliveryOf(t, tn, ev.ID, "in_flight")
	if d.ID != first.Header.Get("webhook-id") || d.Attempts != 0 {
		t.Fatalf("in flight: %+v; the receiver has webhook-id %q", d, first.Header.Get("webhook-id"))
	}

	// Past the lease, to the next run of the recover-leases job (every 30 s).
	advance(t, clock, lease+30*time.Second)
	second := rc.WaitFor(t, 2, 15*time.Second)[1]
	if got := second.Header.Get("webhook-id"); got != d.ID {
		t.Fatalf("sent again as %q, want the same delivery id %s", got, d.ID)
	}
	d = deliveryOf(t, tn, ev.ID, "succeeded")
	if d.Attempts != 1 || d.AttemptLog[0].ResponseStatus != http.StatusNoContent {
		t.Fatalf("after the second request: %d attempts %+v", d.Attempts, d.AttemptLog)
	}

	// The first request answers at last.
	release()
	deadline := time.Now().Add(15 * time.Second)
	for d.Attempts < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the late result was not recorded: %+v", d)
		}
		time.Sleep(10 * time.Millisecond)
		tn.App.MustDo("GET", "/v1/deliveries/"+d.ID, nil, http.StatusOK, &d)
	}
	if d.State != "succeeded" || d.Attempts != 2 {
		t.Errorf("after the late result: %s with %d attempts, want succeeded with 2", d.State, d.Attempts)
	}
	late := d.AttemptLog[1]
	if late.ResponseStatus != http.StatusInternalServerError || late.ResponseBody != "late" || !late.StartedAt.Equal(start) {
		t.Errorf("the late attempt: %+v", late)
	}
	if !d.AttemptLog[0].StartedAt.Equal(start.Add(lease + 30*time.Second)) {
		t.Errorf("the second request started at %s of test time, want %s", d.AttemptLog[0].StartedAt.Sub(start), lease+30*time.Second)
	}
	var s engine.Subscription
	tn.App.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &s)
	if s.State != engine.SubscriptionActive || s.FailingSince != nil {
		t.Errorf("the late failure marked the subscription: %s, failing since %v", s.State, s.FailingSince)
	}
	if n := len(rc.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
