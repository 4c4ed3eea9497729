package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// TestFailingSubscriptionIsDisabledByTheJob: a subscription whose receiver answers 500 to
// everything is disabled by the disable-failing job once it has failed, without a success, for the
// default 5 days of test-clock time, and not before; a healthy subscription of the same account is
// left alone. Each step waits for the job's own log line, so "not yet" is read after the job ran.
func TestFailingSubscriptionIsDisabledByTheJob(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	failing, healthy := nodetest.NewReceiver(t), nodetest.NewReceiver(t)
	failing.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		return http.StatusInternalServerError, nil, ""
	})
	tn := node.NewTenant("failing", "")
	// No retries: each delivery fails once and is dead, so nothing is in flight while time jumps.
	noRetry := map[string]any{"retry_policy": map[string]any{"schedule": []string{}}}
	bad := subscribe(t, tn, failing.URL, noRetry)
	good := subscribe(t, tn, healthy.URL, map[string]any{"events": []string{"order.*"}})

	sub := func(id string) engine.Subscription {
		t.Helper()
		var s engine.Subscription
		tn.App.MustDo("GET", "/v1/subscriptions/"+id, nil, http.StatusOK, &s)
		return s
	}
	// jobRuns advances the clock by d and waits until the disable-failing job has run at the new
	// time; d must reach its next run (every 10 minutes).
	jobRuns := func(d time.Duration) {
		t.Helper()
		before := strings.Count(node.Logs.String(), "job=disable-failing")
		advance(t, clock, d)
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(node.Logs.String(), "job=disable-failing") == before {
			if time.Now().After(deadline) {
				t.Fatalf("the disable-failing job did not run at %s of test time", clock.Now().Sub(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	ev := publish(t, tn, nil)
	deliveryOf(t, tn, ev.ID, "dead")
	order := publish(t, tn, map[string]any{"type": "order.create"})
	deliveryOf(t, tn, order.ID, "succeeded")
	if s := sub(bad.ID); s.FailingSince == nil || !s.FailingSince.Equal(start) {
		t.Fatalf("failing since %v, want %s", s.FailingSince, start)
	}

	// Three days on it fails again; it has been failing since the first failure.
	jobRuns(3 * 24 * time.Hour)
	again := publish(t, tn, map[string]any{"type": "client.update"})
	deliveryOf(t, tn, again.ID, "dead")
	if s := sub(bad.ID); s.State != engine.SubscriptionActive || s.FailingSince == nil || !s.FailingSince.Equal(start) {
		t.Fatalf("after 3 days: %s, failing since %v; want active, failing since %s", s.State, s.FailingSince, start)
	}
	// A minute short of 5 days: the job runs and leaves it.
	jobRuns(2*24*time.Hour - time.Minute)
	if s := sub(bad.ID); s.State != engine.SubscriptionActive {
		t.Fatalf("disabled after %s of failing, before the 5 days: %q", clock.Now().Sub(start), s.DisabledReason)
	}
	// Its next run, 10 minutes later, is past the 5 days.
	jobRuns(10 * time.Minute)
	s := sub(bad.ID)
	if s.State != engine.SubscriptionDisabled || s.DisabledReason != "deliveries failed for 120h0m0s without a success" {
		t.Fatalf("after %s: %s %q; want disabled for failing 5 days", clock.Now().Sub(start), s.State, s.DisabledReason)
	}
	if !strings.Contains(node.Logs.String(), `msg="disabled failing subscription" subscription=`+bad.ID) {
		t.Errorf("the job did not log that it disabled %s", bad.ID)
	}
	if g := sub(good.ID); g.State != engine.SubscriptionActive || g.FailingSince != nil {
		t.Errorf("the healthy subscription: %s, failing since %v", g.State, g.FailingSince)
	}
	// A disabled subscription gets no more deliveries; the healthy one does.
	if p := publish(t, tn, nil); p.Deliveries != 0 {
		t.Errorf("an event for the disabled subscription made %d deliveries", p.Deliveries)
	}
	if p := publish(t, tn, map[string]any{"type": "order.update"}); p.Deliveries != 1 {
		t.Errorf("an event for the healthy subscription made %d deliveries", p.Deliveries)
	}
	if n := len(failing.Requests()); n != 2 {
		t.Errorf("the failing receiver got %d requests, want 2", n)
	}
}
