package api_test

import (
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// TestReceiverOutage: the receiver is down for five minutes of (test) time while an event comes
// every ten seconds; when it is back, every delivery arrives, each on its retry schedule, and
// nothing that had attempts left is dead.
func TestReceiverOutage(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	var down atomic.Bool
	down.Store(true)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		if down.Load() {
			return http.StatusServiceUnavailable, nil, "down for maintenance"
		}
		return http.StatusOK, nil, ""
	})
	tn := node.NewTenant("outage", "")
	subscribe(t, tn, rc.URL, nil)

	const step = 5 * time.Second
	published := 0
	for now := time.Duration(0); now <= 40*time.Minute; now += step {
		if now < 5*time.Minute && now%(10*time.Second) == 0 {
			publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": fmt.Sprint(published)}})
			published++
		}
		if now == 5*time.Minute {
			down.Store(false)
		}
		settle(t, tn, clock)
		clock.Advance(step)
	}
	settle(t, tn, clock)

	var all listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?limit=200", nil, http.StatusOK, &all)
	if len(all.Data) != published {
		t.Fatalf("%d deliveries for %d events", len(all.Data), published)
	}
	schedule := engine.DefaultSchedule
	var recovered []time.Time // when each delivery finally arrived
	for _, d := range all.Data {
		var full delivery
		tn.App.MustDo("GET", "/v1/deliveries/"+d.ID, nil, http.StatusOK, &full)
		if full.State != "succeeded" {
			t.Fatalf("delivery %s is %s after %d attempts", d.ID, full.State, full.Attempts)
		}
		log := full.AttemptLog
		for i := 1; i < len(log); i++ {
			gap := log[i].StartedAt.Sub(log[i-1].StartedAt)
			want := time.Duration(schedule[i-1])
			// Jitter is 10%; the test clock moves in 5 s steps, which can add up to one step.
			if gap < want*9/10 || gap > want*11/10+step {
				t.Errorf("delivery %s: attempt %d came %v after attempt %d, want about %v", d.ID, i+1, gap, i, want)
			}
		}
		recovered = append(recovered, log[len(log)-1].StartedAt)
	}
	sort.Slice(recovered, func(i, j int) bool { return recovered[i].Before(recovered[j]) })
	if first := recovered[0]; first.Before(start.Add(5 * time.Minute)) {
		t.Errorf("a delivery succeeded at %v, while the receiver was down", first)
	}
	t.Logf("%d events during a 5-minute outage: all delivered by %v, none dead", published, recovered[len(recovered)-1].Sub(start))
}

// settle waits until nothing is in flight and nothing is due at the test clock's now, so moving
// the clock cannot overtake the dispatcher. A timer the dispatcher set just as the test moved the
// clock starts from the moved time and waits for the next move (a real clock always moves on), so
// when nothing happens for a while the clock is nudged by a millisecond.
func settle(t *testing.T, tn *nodetest.Tenant, clock *enginetest.Clock) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a guard against a hang; the race detector on 2 shared cores is slow
	nudge := time.Now().Add(100 * time.Millisecond)
	for {
		busy := false
		for _, state := range []string{"in_flight", "pending"} {
			var l listOf[struct {
				NextAttemptAt time.Time `json:"next_attempt_at"`
			}]
			tn.App.MustDo("GET", "/v1/deliveries?limit=200&status="+state, nil, http.StatusOK, &l)
			for _, d := range l.Data {
				if state == "in_flight" || !d.NextAttemptAt.After(clock.Now()) {
					busy = true
				}
			}
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher did not settle")
		}
		if time.Now().After(nudge) {
			clock.Advance(time.Millisecond)
			nudge = time.Now().Add(100 * time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
