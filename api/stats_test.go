package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/engine/metrics"
)

// TestStats: the operator's overview figures count what the node did in the last hour, minute by
// minute, and the queue now; an app may not read them.
func TestStats(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(i int, _ *nodetest.Request) (int, http.Header, string) {
		if i == 0 {
			return http.StatusInternalServerError, nil, ""
		}
		return http.StatusNoContent, nil, ""
	})
	tn := n.NewTenant("stats", "")
	subscribe(t, tn, rc.URL, map[string]any{"retry_policy": map[string]any{"schedule": []string{}}})
	deliveryOf(t, tn, publish(t, tn, nil).ID, "dead")
	deliveryOf(t, tn, publish(t, tn, nil).ID, "succeeded")

	var got metrics.Recent
	n.Admin.MustDo("GET", "/v1/stats", nil, http.StatusOK, &got)
	if len(got.Minutes) != metrics.RecentMinutes {
		t.Fatalf("%d minutes, want %d", len(got.Minutes), metrics.RecentMinutes)
	}
	var sum metrics.Minute
	for i, m := range got.Minutes {
		if i > 0 && !m.Start.Equal(got.Minutes[i-1].Start.Add(time.Minute)) {
			t.Errorf("minute %d starts at %s, after %s", i, m.Start, got.Minutes[i-1].Start)
		}
		sum.Attempts += m.Attempts
		sum.FailedAttempts += m.FailedAttempts
		sum.Succeeded += m.Succeeded
		sum.Dead += m.Dead
		sum.Published += m.Published
	}
	last := got.Minutes[len(got.Minutes)-1].Start
	if got.At.Before(last) || got.At.Sub(last) >= time.Minute {
		t.Errorf("the last minute starts at %s, the figures are of %s", last, got.At)
	}
	// Published counts the engine's own delivery.dead report in the system account too, which
	// may still be on its way.
	if sum.Attempts != 2 || sum.FailedAttempts != 1 || sum.Succeeded != 1 || sum.Dead != 1 || sum.Published < 2 || sum.Published > 3 {
		t.Errorf("the hour adds up to %+v, want 2 attempts (1 failed), 1 succeeded, 1 dead, 2 or 3 published", sum)
	}
	if got.Queue.Due != 0 || got.Queue.InFlight != 0 {
		t.Errorf("queue %+v, want nothing due or in flight", got.Queue)
	}
	if r := tn.App.Do("GET", "/v1/stats", nil); r.Status != http.StatusForbidden {
		t.Errorf("an app read the node's figures: %d %s", r.Status, r.Body)
	}
}

// TestStatsQueueHistory: each minute the node reads the queue into that minute's figures (the
// sample-queue job), so the hour shows how the backlog moved; a minute in which nobody read it is
// null, not an empty queue.
func TestStatsQueueHistory(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	n := nodetest.Start(t, nodetest.Options{Clock: clock})
	tn := n.NewTenant("stats-queue", "")
	sub := subscribe(t, tn, nodetest.NewReceiver(t).URL, nil)
	// Paused: its deliveries stay due, and nothing is in flight.
	tn.App.MustDo("POST", "/v1/subscriptions/"+sub.ID+"/pause", nil, http.StatusOK, nil)
	for range 3 {
		publish(t, tn, nil)
	}
	advance(t, clock, time.Minute) // 12:01: the job reads 3 due
	advance(t, clock, time.Minute) // 12:02: again; advance waits for the 12:01 run to end first
	advance(t, clock, time.Minute) // 12:03, so that 12:02's run has ended too
	var got metrics.Recent
	n.Admin.MustDo("GET", "/v1/stats", nil, http.StatusOK, &got)
	if len(got.Minutes) != metrics.RecentMinutes {
		t.Fatalf("%d minutes, want %d", len(got.Minutes), metrics.RecentMinutes)
	}
	at := func(start time.Time) metrics.Minute {
		for _, m := range got.Minutes {
			if m.Start.Equal(start) {
				return m
			}
		}
		t.Fatalf("no minute starts at %s", start)
		return metrics.Minute{}
	}
	show := func(v *int64) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprint(*v)
	}
	for _, start := range []time.Time{clock.Now().Add(-2 * time.Minute), clock.Now().Add(-time.Minute), clock.Now()} {
		m := at(start)
		if m.Due == nil || *m.Due != 3 || m.InFlight == nil || *m.InFlight != 0 {
			t.Errorf("the minute of %s: due %s, in flight %s; want 3 and 0", start.Format("15:04"), show(m.Due), show(m.InFlight))
		}
	}
	if m := got.Minutes[0]; m.Due != nil || m.InFlight != nil {
		t.Errorf("the minute of %s, before the node started: due %s, in flight %s; want null", m.Start.Format("15:04"), show(m.Due), show(m.InFlight))
	}
}
