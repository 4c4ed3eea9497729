package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

func testClaimDueOrderAndLimit(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	// Created in one order, due in another.
	d3 := h.deliver(sub, at(-1*time.Second))
	d1 := h.deliver(sub, at(-3*time.Second))
	d2 := h.deliver(sub, at(-2*time.Second))
	d4 := h.deliver(sub, base) // due exactly now
	future := h.deliver(sub, at(time.Second))

	lease := at(time.Minute)
	ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: lease, Limit: 2})
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	wantIDs(t, "first claim", workIDs(ws), []string{d1.ID, d2.ID})
	for _, w := range ws {
		got := h.delivery(w.Delivery.ID)
		if got.State != engine.DeliveryInFlight {
			t.Errorf("%s is %s; want in_flight", got.ID, got.State)
		}
		wantTimePtr(t, "LeaseUntil", got.LeaseUntil, &lease)
		if w.Delivery.State != engine.DeliveryInFlight {
			t.Errorf("claimed work's delivery is %s; want in_flight", w.Delivery.State)
		}
		wantTimePtr(t, "work LeaseUntil", w.Delivery.LeaseUntil, &lease)
		if got.Attempts != 0 {
			t.Errorf("claiming counted %d attempts", got.Attempts)
		}
	}
	ws = h.claim(base, 10)
	wantIDs(t, "second claim", workIDs(ws), []string{d3.ID, d4.ID})
	if ws := h.claim(base, 10); len(ws) != 0 {
		t.Errorf("third claim = %v; want nothing: the rest are leased or not due", workIDs(ws))
	}
	if got := h.delivery(future.ID); got.State != engine.DeliveryPending || got.LeaseUntil != nil {
		t.Errorf("the delivery not due is %s, lease %v; want pending and unleased", got.State, got.LeaseUntil)
	}
	if ws := h.claim(at(time.Second), 0); len(ws) != 0 {
		t.Errorf("a claim with limit 0 returned %v", workIDs(ws))
	}
	wantIDs(t, "claim when due", workIDs(h.claim(at(time.Second), 10)), []string{future.ID})
}

func testClaimDueWork(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app1, app2 := h.app(), h.app()
	acc1, acc2 := h.account(), h.account()
	s1 := h.sub(app1, acc1, func(s *engine.Subscription) { s.Options = map[string]string{"a": "b"} })
	s2 := h.sub(app2, acc2)
	s3 := h.sub(app1, acc2)
	ev1 := newEvent(acc1, func(ev *engine.Event) { ev.Data = json.RawMessage(`{"n": 1}`) })
	ev2 := newEvent(acc2, func(ev *engine.Event) { ev.Data = json.RawMessage(`{"n": 2}`) })
	h.ingest(routeAll(base), ev1, ev2)

	ws := h.claim(base, 10)
	if len(ws) != 3 {
		t.Fatalf("claimed %d; want 3", len(ws))
	}
	subs := map[string]*engine.Subscription{s1.ID: s1, s2.ID: s2, s3.ID: s3}
	apps := map[string]*engine.App{app1.ID: app1, app2.ID: app2}
	accounts := map[string]*engine.Account{acc1.ID: acc1, acc2.ID: acc2}
	events := map[string]*engine.Event{ev1.ID: ev1, ev2.ID: ev2}
	for _, w := range ws {
		d := w.Delivery
		if w.Event == nil || w.Subscription == nil || w.App == nil || w.Account == nil {
			t.Fatalf("work %s is missing parts: %+v", d.ID, w)
		}
		wantSame(t, "work event", w.Event, events[d.EventID])
		wantSame(t, "work subscription", w.Subscription, subs[d.SubscriptionID])
		wantSame(t, "work app", w.App, apps[d.AppID])
		wantSame(t, "work account", w.Account, accounts[w.Subscription.AccountID])
		wantSame(t, "work delivery", w.Delivery, h.delivery(d.ID))
	}
}

func testClaimDueConcurrent(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	const n = 300
	events := make([]*engine.Event, n)
	for i := range events {
		events[i] = newEvent(acc)
	}
	h.ingest(routeTo(sub, base), events...)

	const workers = 12
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Minute), Limit: 7})
				if err != nil {
					errs <- err
					return
				}
				if len(ws) == 0 {
					return
				}
				mu.Lock()
				for _, w := range ws {
					claimed[w.Delivery.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ClaimDue: %v", err)
	}
	if len(claimed) != n {
		t.Errorf("claimed %d distinct deliveries; want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Errorf("delivery %s handed out %d times", id, c)
		}
	}
}

func testCompleteTransitions(t *testing.T, open func(t *testing.T) engine.Store) {
	for _, tt := range []struct {
		name     string
		state    engine.DeliveryState
		disable  string
		wantNext func(o *engine.Outcome, d *engine.Delivery) time.Time
	}{
		{name: "Retry", state: engine.DeliveryPending,
			wantNext: func(o *engine.Outcome, _ *engine.Delivery) time.Time { return o.NextAttemptAt }},
		{name: "Succeeded", state: engine.DeliverySucceeded},
		{name: "Failed", state: engine.DeliveryFailed},
		{name: "Dead", state: engine.DeliveryDead},
		{name: "Disable", state: engine.DeliveryFailed, disable: "the receiver answered 410 Gone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, open)
			app, acc := h.app(), h.account()
			sub := h.sub(app, acc)
			d := h.drive(h.deliver(sub, base), engine.DeliveryInFlight)

			start := at(time.Second)
			o := outcome(d, start, tt.state)
			o.Disable = tt.disable
			h.complete(o)

			got := h.delivery(d.ID)
			if got.State != tt.state || got.Attempts != 1 || got.LeaseUntil != nil {
				t.Errorf("delivery: state %s, attempts %d, lease %v; want %s, 1, none", got.State, got.Attempts, got.LeaseUntil, tt.state)
			}
			if got.LastStatus != o.Attempt.ResponseStatus || got.LastError != o.Attempt.Error {
				t.Errorf("last status %d, error %q; want %d, %q", got.LastStatus, got.LastError, o.Attempt.ResponseStatus, o.Attempt.Error)
			}
			if tt.wantNext != nil {
				wantTime(t, "NextAttemptAt", got.NextAttemptAt, tt.wantNext(o, d))
			}
			if o.Attempt.Number != 1 {
				t.Errorf("Attempt.Number set to %d; want 1", o.Attempt.Number)
			}
			as := h.attempts(d.ID)
			if len(as) != 1 {
				t.Fatalf("%d attempts stored; want 1", len(as))
			}
			wantSame(t, "attempt", as[0], o.Attempt)

			s := h.subscription(sub.ID)
			switch {
			case tt.disable != "":
				if s.State != engine.SubscriptionDisabled || s.DisabledReason != tt.disable {
					t.Errorf("subscription: %s, %q; want disabled, %q", s.State, s.DisabledReason, tt.disable)
				}
			case s.State != engine.SubscriptionActive:
				t.Errorf("subscription is %s; want it left active", s.State)
			}
			if o.Healthy {
				wantTimePtr(t, "FailingSince", s.FailingSince, nil)
			} else {
				wantTimePtr(t, "FailingSince", s.FailingSince, &start)
			}
			// A retry is due again; nothing else is.
			ws := h.claim(at(time.Hour), 10)
			if tt.state == engine.DeliveryPending {
				wantIDs(t, "claim after a retry", workIDs(ws), []string{d.ID})
			} else if len(ws) != 0 {
				t.Errorf("claimed %v after the delivery ended", workIDs(ws))
			}
		})
	}
}

func testCompleteAttempts(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	d := h.deliver(sub, base)

	a1 := outcome(d, at(time.Second), engine.DeliveryPending)
	a1.Attempt.PluginVersion = "standard@1.2.0#abcd"
	a1.Attempt.RequestHeaders = []engine.HeaderLine{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Dup", Value: "1"}, {Name: "X-Dup", Value: "2"}}
	a1.Attempt.RequestBody = `{"event":"client.create","é":"\u00e9"}`
	a1.Attempt.ResponseHeaders = []engine.HeaderLine{{Name: "Retry-After", Value: "30"}}
	a1.Attempt.ResponseBody = "busy…[truncated]"
	a1.Attempt.DurationMS = 1234
	// Two attempts at one delivery in one call are numbered in order.
	a2 := outcome(d, at(2*time.Second), engine.DeliveryPending)
	a2.Attempt.Error = "dial tcp: connection refused"
	a2.Attempt.ResponseStatus = 0
	h.complete(a1, a2)
	a3 := outcome(d, at(3*time.Second), engine.DeliverySucceeded)
	a3.Attempt.Kept = json.RawMessage(`{"token": "abc"}`)
	h.complete(a3)

	for i, o := range []*engine.Outcome{a1, a2, a3} {
		if o.Attempt.Number != i+1 {
			t.Errorf("outcome %d numbered %d", i+1, o.Attempt.Number)
		}
	}
	as := h.attempts(d.ID)
	if len(as) != 3 {
		t.Fatalf("%d attempts; want 3", len(as))
	}
	for i, o := range []*engine.Outcome{a1, a2, a3} {
		wantSame(t, fmt.Sprintf("attempt %d", i+1), as[i], o.Attempt)
	}
	got := h.delivery(d.ID)
	if got.Attempts != 3 || got.State != engine.DeliverySucceeded || got.LastStatus != 200 || got.LastError != "" {
		t.Errorf("delivery: %+v; want 3 attempts, succeeded, last status 200, no error", got)
	}
	if as := h.attempts("dlv_missing"); len(as) != 0 {
		t.Errorf("attempts of a missing delivery: %d", len(as))
	}
}

func testCompleteAfterEnd(t *testing.T, open func(t *testing.T) engine.Store) {
	for _, end := range []engine.DeliveryState{engine.DeliverySucceeded, engine.DeliveryFailed, engine.DeliveryDead, engine.DeliverySkipped} {
		t.Run(string(end), func(t *testing.T) {
			h := setup(t, open)
			app, acc := h.app(), h.account()
			sub := h.sub(app, acc)
			d := h.drive(h.deliver(sub, base), end)
			before := h.delivery(d.ID)
			subBefore := h.subscription(sub.ID)

			// A late outcome (its lease had expired and another attempt finished first) is
			// recorded, but moves the delivery nowhere, and leaves the subscription's health as
			// the attempt that ended the delivery left it.
			late := outcome(d, at(time.Minute), engine.DeliveryPending)
			late.Disable = "the receiver answered 410 Gone"
			h.complete(late)
			s := h.subscription(sub.ID)
			if s.State != subBefore.State {
				t.Errorf("after a late outcome the subscription is %s; want %s", s.State, subBefore.State)
			}
			wantTimePtr(t, "FailingSince after a late outcome", s.FailingSince, subBefore.FailingSince)
			got := h.delivery(d.ID)
			if got.State != end || got.Attempts != 2 || got.LeaseUntil != nil {
				t.Errorf("after a late retry: %s, %d attempts, lease %v; want %s, 2, none", got.State, got.Attempts, got.LeaseUntil, end)
			}
			wantTime(t, "NextAttemptAt", got.NextAttemptAt, before.NextAttemptAt)
			if late.Attempt.Number != 2 || len(h.attempts(d.ID)) != 2 {
				t.Errorf("late attempt numbered %d, %d stored; want 2, 2", late.Attempt.Number, len(h.attempts(d.ID)))
			}
			if ws := h.claim(at(time.Hour), 10); len(ws) != 0 {
				t.Errorf("claimed %v", workIDs(ws))
			}
		})
	}
}

// testCompleteEndThenLateInOneCall: one call whose first outcome ends a delivery and whose second
// is a late one of the same delivery counts the second on the ended delivery without moving it, as
// two calls would (the stores read a call's deliveries once, then count its outcomes in order).
func testCompleteEndThenLateInOneCall(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	d := h.deliver(sub, base)
	end := outcome(d, at(time.Second), engine.DeliverySucceeded)
	late := outcome(d, at(2*time.Second), engine.DeliveryPending)
	late.NextAttemptAt = at(time.Hour)
	h.complete(end, late)
	got := h.delivery(d.ID)
	if got.State != engine.DeliverySucceeded || got.Attempts != 2 {
		t.Errorf("delivery: %s, %d attempts; want succeeded, 2", got.State, got.Attempts)
	}
	wantTime(t, "NextAttemptAt", got.NextAttemptAt, d.NextAttemptAt)
	if end.Attempt.Number != 1 || late.Attempt.Number != 2 || len(h.attempts(d.ID)) != 2 {
		t.Errorf("attempts numbered %d and %d, %d stored; want 1, 2, 2", end.Attempt.Number, late.Attempt.Number, len(h.attempts(d.ID)))
	}
}

func testCompleteSkipsMissing(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub, gone := h.sub(app, acc), h.sub(app, acc)
	d := h.deliver(sub, base)
	dg := h.deliver(gone, base)
	if err := h.s.DeleteSubscription(h.ctx, gone.ID); err != nil {
		t.Fatalf("DeleteSubscription: %v", err)
	}
	ghost := &engine.Delivery{ID: engine.NewID("dlv"), SubscriptionID: sub.ID}
	// Outcomes for a delivery deleted with its subscription, and one never stored, around a real one.
	h.complete(outcome(dg, base, engine.DeliveryPending), outcome(d, base, engine.DeliveryDead), outcome(ghost, base, engine.DeliveryFailed))
	if got := h.delivery(d.ID); got.State != engine.DeliveryDead || got.Attempts != 1 {
		t.Errorf("delivery: %s, %d attempts; want dead, 1", got.State, got.Attempts)
	}
	_, err := h.s.GetDelivery(h.ctx, dg.ID)
	wantErr(t, "GetDelivery(deleted)", err, engine.ErrNotFound)
	if n := len(h.attempts(dg.ID)) + len(h.attempts(ghost.ID)); n != 0 {
		t.Errorf("%d attempts stored for missing deliveries", n)
	}
	if err := h.s.Complete(h.ctx, nil); err != nil {
		t.Errorf("Complete(nothing): %v", err)
	}

	// An outcome that names no next state, or no attempt, is refused, and the call records nothing.
	d2 := h.deliver(sub, base)
	bad := outcome(d2, base, engine.DeliveryInFlight)
	err = h.s.Complete(h.ctx, []*engine.Outcome{outcome(d2, base, engine.DeliveryPending), bad})
	wantErr(t, "Complete(to in_flight)", err, engine.ErrInvalid)
	err = h.s.Complete(h.ctx, []*engine.Outcome{outcome(d2, base, engine.DeliveryPending), {State: engine.DeliveryDead}})
	wantErr(t, "Complete(no attempt)", err, engine.ErrInvalid)
	if got := h.delivery(d2.ID); got.Attempts != 0 || len(h.attempts(d2.ID)) != 0 {
		t.Errorf("a refused call recorded %d attempts", got.Attempts)
	}
}

func testCompleteHealth(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	other := h.sub(app, acc)
	// Each outcome is for a delivery that has not ended: one for a delivery that has is late, and
	// changes no health (testCompleteAfterEnd).
	live := func() *engine.Delivery { return h.deliver(sub, base) }
	d := live()
	do := h.deliver(other, base)
	failing := func(want *time.Time) {
		t.Helper()
		wantTimePtr(t, "FailingSince", h.subscription(sub.ID).FailingSince, want)
	}

	t1, t2, t3, t4 := at(time.Second), at(2*time.Second), at(3*time.Second), at(4*time.Second)
	h.complete(outcome(d, t1, engine.DeliveryPending))
	failing(&t1)
	h.complete(outcome(d, t2, engine.DeliveryPending))
	failing(&t1) // a later failure does not move it
	h.complete(outcome(d, t3, engine.DeliverySucceeded))
	failing(nil)
	// Within one call the last word counts: a failure after a success marks it again.
	h.complete(outcome(live(), t3, engine.DeliveryPending), outcome(live(), t3, engine.DeliverySucceeded), outcome(live(), t4, engine.DeliveryPending))
	failing(&t4)
	// ... and a success after a failure clears it.
	h.complete(outcome(live(), t4, engine.DeliveryPending), outcome(live(), t4, engine.DeliverySucceeded))
	failing(nil)

	// Health is the subscription's own: the other one is untouched, then marked on its own.
	wantTimePtr(t, "other FailingSince", h.subscription(other.ID).FailingSince, nil)
	h.complete(outcome(do, t2, engine.DeliveryDead))
	wantTimePtr(t, "other FailingSince", h.subscription(other.ID).FailingSince, &t2)
	failing(nil)

	// Disabling keeps the first reason given.
	o1, o2 := outcome(live(), t4, engine.DeliveryFailed), outcome(live(), t4, engine.DeliveryFailed)
	o1.Disable = "410 Gone"
	h.complete(o1)
	o2.Disable = "something else"
	h.complete(o2)
	if s := h.subscription(sub.ID); s.State != engine.SubscriptionDisabled || s.DisabledReason != "410 Gone" {
		t.Errorf("subscription: %s, %q; want disabled, 410 Gone", s.State, s.DisabledReason)
	}
}

func testNextDue(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	if _, ok, err := h.s.NextDue(h.ctx); err != nil || ok {
		t.Fatalf("NextDue on an empty store = %v, %v; want false", ok, err)
	}
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	first := h.deliver(sub, at(-time.Minute))
	h.deliver(sub, at(time.Minute))
	h.deliver(sub, at(time.Hour))
	next, ok, err := h.s.NextDue(h.ctx)
	if err != nil || !ok {
		t.Fatalf("NextDue = %v, %v", ok, err)
	}
	wantTime(t, "NextDue", next, at(-time.Minute))

	// In-flight and ended deliveries are not pending.
	h.claim(base, 10) // first
	h.complete(outcome(first, base, engine.DeliverySucceeded))
	next, ok, err = h.s.NextDue(h.ctx)
	if err != nil || !ok {
		t.Fatalf("NextDue = %v, %v", ok, err)
	}
	wantTime(t, "NextDue after the first ended", next, at(time.Minute))
	h.claim(at(time.Hour), 10)
	if next, ok, err := h.s.NextDue(h.ctx); err != nil || ok {
		t.Errorf("NextDue with everything in flight = %v, %v, %v; want false", next, ok, err)
	}
}

func testCountDeliveries(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	count := func(now time.Time) engine.DeliveryCounts {
		t.Helper()
		c, err := h.s.CountDeliveries(h.ctx, now)
		if err != nil {
			t.Fatalf("CountDeliveries: %v", err)
		}
		return c
	}
	if c := count(base); c != (engine.DeliveryCounts{}) {
		t.Errorf("an empty store counts %+v; want zeros", c)
	}
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	h.deliver(sub, at(-time.Minute))
	edge := h.deliver(sub, base) // due exactly now: due, not scheduled
	h.deliver(sub, at(time.Minute))
	h.deliver(sub, at(time.Hour))
	if c, want := count(base), (engine.DeliveryCounts{Due: 2, Scheduled: 2}); c != want {
		t.Errorf("counts %+v; want %+v", c, want)
	}
	// Claim both due ones; one ends, the other stays in flight. Ended deliveries are not counted.
	works := h.claim(base, 10)
	if len(works) != 2 {
		t.Fatalf("claimed %d; want 2", len(works))
	}
	h.complete(outcome(edge, base, engine.DeliverySucceeded))
	if c, want := count(base), (engine.DeliveryCounts{Scheduled: 2, InFlight: 1}); c != want {
		t.Errorf("after a claim and a success: %+v; want %+v", c, want)
	}
	// Time moving on makes the scheduled ones due without any write.
	if c, want := count(at(time.Hour)), (engine.DeliveryCounts{Due: 2, InFlight: 1}); c != want {
		t.Errorf("an hour later: %+v; want %+v", c, want)
	}
}

func testRecoverLeases(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	expired1, expired2 := h.deliver(sub, base), h.deliver(sub, base)
	if _, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Minute), Limit: 2}); err != nil {
		t.Fatal(err)
	}
	now := at(2 * time.Minute)
	edge := h.deliver(sub, base) // its lease ends at now: not before it
	if _, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: now, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	live := h.deliver(sub, base)
	if _, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Hour), Limit: 10}); err != nil {
		t.Fatal(err)
	}
	later := h.deliver(sub, at(2*time.Hour))

	n, err := h.s.RecoverLeases(h.ctx, engine.RecoverLeasesParams{ExpiredBefore: now, DueAt: now})
	if err != nil {
		t.Fatalf("RecoverLeases: %v", err)
	}
	if n != 2 {
		t.Errorf("recovered %d; want 2", n)
	}
	for _, d := range []*engine.Delivery{expired1, expired2} {
		got := h.delivery(d.ID)
		if got.State != engine.DeliveryPending || got.LeaseUntil != nil || got.Attempts != 0 {
			t.Errorf("recovered %s: %s, lease %v, %d attempts; want pending, none, 0", d.ID, got.State, got.LeaseUntil, got.Attempts)
		}
		wantTime(t, "NextAttemptAt", got.NextAttemptAt, now)
	}
	for _, d := range []*engine.Delivery{live, edge} {
		if got := h.delivery(d.ID); got.State != engine.DeliveryInFlight {
			t.Errorf("a lease not yet ended was recovered: %s", got.State)
		}
	}
	if got := h.delivery(later.ID); got.State != engine.DeliveryPending {
		t.Errorf("pending delivery is %s", got.State)
	}
	wantIDs(t, "claim after recovery", sorted(workIDs(h.claim(now, 10))), sorted([]string{expired1.ID, expired2.ID}))
	if n, err := h.s.RecoverLeases(h.ctx, engine.RecoverLeasesParams{ExpiredBefore: now, DueAt: now}); err != nil || n != 0 {
		t.Errorf("RecoverLeases again = %d, %v; want 0", n, err)
	}

	// At start-up a single node takes back every lease, however far from ending, and makes the
	// deliveries due now: the cutoff and the due time differ.
	n, err = h.s.RecoverLeases(h.ctx, engine.RecoverLeasesParams{ExpiredBefore: at(100 * 24 * time.Hour), DueAt: now})
	if err != nil || n != 4 {
		t.Fatalf("RecoverLeases of every lease = %d, %v; want 4", n, err)
	}
	for _, d := range []*engine.Delivery{live, edge, expired1, expired2} {
		got := h.delivery(d.ID)
		if got.State != engine.DeliveryPending {
			t.Errorf("%s is %s after taking back every lease", d.ID, got.State)
		}
		wantTime(t, "NextAttemptAt after taking back every lease", got.NextAttemptAt, now)
	}
}

func testReleaseLeases(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	a, b, c, done := h.deliver(sub, at(-time.Second)), h.deliver(sub, at(-time.Second)), h.deliver(sub, at(-time.Second)), h.deliver(sub, at(-time.Second))
	h.claim(base, 10)
	h.complete(outcome(a, base, engine.DeliveryPending)) // a retry, due at base+5s
	h.claim(at(10*time.Second), 10)                      // a again, with an attempt counted
	h.complete(outcome(done, base, engine.DeliverySucceeded))

	now := at(time.Minute)
	if err := h.s.ReleaseLeases(h.ctx, []string{a.ID, b.ID, done.ID, "dlv_missing"}, now); err != nil {
		t.Fatalf("ReleaseLeases: %v", err)
	}
	for _, tt := range []struct {
		d        *engine.Delivery
		state    engine.DeliveryState
		attempts int
	}{{a, engine.DeliveryPending, 1}, {b, engine.DeliveryPending, 0}, {c, engine.DeliveryInFlight, 0}, {done, engine.DeliverySucceeded, 1}} {
		got := h.delivery(tt.d.ID)
		if got.State != tt.state || got.Attempts != tt.attempts {
			t.Errorf("%s: %s, %d attempts; want %s, %d", tt.d.ID, got.State, got.Attempts, tt.state, tt.attempts)
		}
		if tt.state == engine.DeliveryPending {
			wantTime(t, "NextAttemptAt", got.NextAttemptAt, now)
			wantTimePtr(t, "LeaseUntil", got.LeaseUntil, nil)
		}
	}
	if err := h.s.ReleaseLeases(h.ctx, nil, now); err != nil {
		t.Errorf("ReleaseLeases(none): %v", err)
	}
	wantIDs(t, "claim after release", sorted(workIDs(h.claim(now, 10))), sorted([]string{a.ID, b.ID}))
}

func testListDeliveries(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app1, app2 := h.app(), h.app()
	acc := h.account()
	s1, s2, s3 := h.sub(app1, acc), h.sub(app1, acc), h.sub(app2, acc)
	ev1, ev2 := newEvent(acc), newEvent(acc)
	h.ingest(routeAll(at(-time.Minute)), ev1) // s1, s2, s3
	h.ingest(routeTo(s1, at(time.Hour)), ev2) // s1, not due
	all, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{})
	if err != nil || len(all) != 4 {
		t.Fatalf("ListDeliveries = %d, %v; want 4", len(all), err)
	}
	ids := deliveryIDs(all)
	if !slices.IsSortedFunc(ids, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("not newest first: %v", ids)
	}
	bySub := map[string]*engine.Delivery{}
	for _, d := range all {
		if d.EventID == ev1.ID {
			bySub[d.SubscriptionID] = d
		}
	}
	d1, d2, d3 := bySub[s1.ID], bySub[s2.ID], bySub[s3.ID]
	var d4 *engine.Delivery
	for _, d := range all {
		if d.EventID == ev2.ID {
			d4 = d
		}
	}
	// d1 dead, d2 and d3 in flight, d4 pending.
	h.claim(base, 10)
	h.complete(outcome(d1, base, engine.DeliveryDead))

	ids4 := func(ds ...*engine.Delivery) []string { return reversed(sorted(deliveryIDs(ds))) }
	for _, tt := range []struct {
		name string
		f    engine.DeliveryFilter
		want []string
	}{
		{"All", engine.DeliveryFilter{}, ids4(d1, d2, d3, d4)},
		{"App", engine.DeliveryFilter{AppID: app1.ID}, ids4(d1, d2, d4)},
		{"Subscription", engine.DeliveryFilter{SubscriptionID: s1.ID}, ids4(d1, d4)},
		{"Event", engine.DeliveryFilter{EventID: ev1.ID}, ids4(d1, d2, d3)},
		{"StateDead", engine.DeliveryFilter{State: engine.DeliveryDead}, ids4(d1)},
		{"StateInFlight", engine.DeliveryFilter{State: engine.DeliveryInFlight}, ids4(d2, d3)},
		{"StatePending", engine.DeliveryFilter{State: engine.DeliveryPending}, ids4(d4)},
		{"AppAndState", engine.DeliveryFilter{AppID: app1.ID, State: engine.DeliveryInFlight}, ids4(d2)},
		{"NoMatch", engine.DeliveryFilter{AppID: app2.ID, State: engine.DeliveryDead}, nil},
		{"Limit", engine.DeliveryFilter{Limit: 2}, ids4(d1, d2, d3, d4)[:2]},
		{"Before", engine.DeliveryFilter{Before: ids4(d1, d2, d3, d4)[1], Limit: 2}, ids4(d1, d2, d3, d4)[2:]},
		{"EventBefore", engine.DeliveryFilter{EventID: ev1.ID, Before: ids4(d1, d2, d3)[0]}, ids4(d1, d2, d3)[1:]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.s.ListDeliveries(h.ctx, tt.f)
			if err != nil {
				t.Fatalf("ListDeliveries: %v", err)
			}
			wantIDs(t, "deliveries", deliveryIDs(got), tt.want)
		})
	}
	// Paging to the end with the cursor visits each once.
	var paged []string
	f := engine.DeliveryFilter{Limit: 3}
	for {
		page, err := h.s.ListDeliveries(h.ctx, f)
		if err != nil {
			t.Fatalf("ListDeliveries: %v", err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, deliveryIDs(page)...)
		f.Before = page[len(page)-1].ID
	}
	wantIDs(t, "paged", paged, ids4(d1, d2, d3, d4))

	// By account: the deliveries of its subscriptions, and none of another account's.
	other := h.account()
	elsewhere := h.deliver(h.sub(app1, other), at(time.Hour))
	for _, tt := range []struct {
		name string
		f    engine.DeliveryFilter
		want []string
	}{
		{"Account", engine.DeliveryFilter{AccountID: acc.ID}, ids4(d1, d2, d3, d4)},
		{"OtherAccount", engine.DeliveryFilter{AccountID: other.ID}, ids4(elsewhere)},
		{"AppAndAccount", engine.DeliveryFilter{AppID: app1.ID, AccountID: other.ID}, ids4(elsewhere)},
		{"AccountOfAnotherApp", engine.DeliveryFilter{AppID: app2.ID, AccountID: other.ID}, nil},
	} {
		got, err := h.s.ListDeliveries(h.ctx, tt.f)
		if err != nil {
			t.Fatalf("ListDeliveries %s: %v", tt.name, err)
		}
		wantIDs(t, tt.name, deliveryIDs(got), tt.want)
	}
}

func testRetryDelivery(t *testing.T, open func(t *testing.T) engine.Store) {
	for _, tt := range []struct {
		state engine.DeliveryState
		ok    bool
	}{
		{engine.DeliveryInFlight, false},
		{engine.DeliverySucceeded, false},
		{engine.DeliveryFailed, true},
		{engine.DeliveryDead, true},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			h := setup(t, open)
			app, acc := h.app(), h.account()
			sub := h.sub(app, acc)
			before := h.drive(h.deliver(sub, base), tt.state)

			now := at(time.Hour)
			got, err := h.s.RetryDelivery(h.ctx, before.ID, now)
			if !tt.ok {
				wantErr(t, "RetryDelivery", err, engine.ErrConflict)
				// The refusal is one sentence for the client, naming the delivery and its state.
				var conflict *engine.ConflictError
				if !errors.As(err, &conflict) || !strings.Contains(conflict.Message, before.ID) ||
					!strings.Contains(conflict.Message, string(tt.state)) {
					t.Errorf("RetryDelivery refused with %v; want a *engine.ConflictError naming %s and its state", err, before.ID)
				}
				wantSame(t, "delivery after a refused retry", h.delivery(before.ID), before)
				return
			}
			if err != nil {
				t.Fatalf("RetryDelivery: %v", err)
			}
			want := *before
			want.State, want.NextAttemptAt, want.LeaseUntil, want.UpdatedAt = engine.DeliveryPending, now, nil, now
			wantSame(t, "returned delivery", got, &want)
			wantSame(t, "stored delivery", h.delivery(before.ID), &want)
			if got.Attempts != 1 || len(h.attempts(before.ID)) != 1 {
				t.Errorf("attempts: %d counted, %d stored; want the 1 kept", got.Attempts, len(h.attempts(before.ID)))
			}
			ws := h.claim(now, 10)
			wantIDs(t, "claim after retry", workIDs(ws), []string{before.ID})
			h.complete(outcome(before, now, engine.DeliverySucceeded))
			if as := h.attempts(before.ID); len(as) != 2 || as[1].Number != 2 {
				t.Errorf("attempt after retry: %d stored; want number 2 after 1", len(as))
			}
		})
	}
	t.Run("Missing", func(t *testing.T) {
		h := setup(t, open)
		_, err := h.s.RetryDelivery(h.ctx, "dlv_missing", base)
		wantErr(t, "RetryDelivery(missing)", err, engine.ErrNotFound)
	})
}

func testReplaySubscription(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	s := newSubscription(app, acc)
	hs := &engine.Delivery{ID: engine.NewID("dlv"), SubscriptionID: s.ID, AppID: app.ID, Kind: engine.DeliveryHandshake,
		State: engine.DeliveryPending, NextAttemptAt: base, CreatedAt: base, UpdatedAt: base}
	if err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: s, Handshake: hs}); err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	other := h.sub(app, acc)
	occurred := func(d time.Duration) func(*engine.Event) {
		return func(ev *engine.Event) { ev.OccurredAt = at(d) }
	}
	old := newEvent(acc, occurred(-3*time.Hour))
	since := newEvent(acc, occurred(-2*time.Hour)) // exactly at Since: included
	recent := newEvent(acc, occurred(-time.Hour))
	otherOnly := newEvent(acc, occurred(-time.Hour))
	h.ingest(routeTo(s, base), old, since, recent)
	h.ingest(routeTo(other, base), otherOnly)
	// recent went to s twice (a replay before, say): it is replayed once.
	dup := newDelivery(recent, s, base)
	h.ingest(func(*engine.Event, []*engine.Subscription) []*engine.Delivery { return []*engine.Delivery{dup} }, newEvent(acc))
	// The last ingest's own event went nowhere but dup; dup carried recent.
	before, _ := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{SubscriptionID: s.ID})

	var made []string
	now := at(time.Minute)
	n, err := h.s.ReplaySubscription(h.ctx, engine.ReplayParams{
		SubscriptionID: s.ID, Since: at(-2 * time.Hour), Now: now,
		NewID: func() string { id := engine.NewID("dlv"); made = append(made, id); return id },
	})
	if err != nil {
		t.Fatalf("ReplaySubscription: %v", err)
	}
	if n != 2 || len(made) != 2 {
		t.Fatalf("replayed %d with %d new IDs; want 2", n, len(made))
	}
	after, _ := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{SubscriptionID: s.ID})
	if len(after) != len(before)+2 {
		t.Errorf("%d deliveries after the replay; want %d", len(after), len(before)+2)
	}
	var replayed []string
	for _, id := range made {
		d := h.delivery(id)
		replayed = append(replayed, d.EventID)
		want := &engine.Delivery{ID: id, EventID: d.EventID, SubscriptionID: s.ID, AppID: app.ID, Kind: engine.DeliveryEvent,
			State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		wantSame(t, "replayed delivery", d, want)
	}
	wantIDs(t, "replayed events", sorted(replayed), sorted([]string{since.ID, recent.ID}))

	otherBefore, _ := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{SubscriptionID: other.ID})
	if len(otherBefore) != 1 {
		t.Errorf("the other subscription has %d deliveries; want its 1", len(otherBefore))
	}
	n, err = h.s.ReplaySubscription(h.ctx, engine.ReplayParams{SubscriptionID: s.ID, Since: at(time.Hour), Now: now, NewID: func() string { return engine.NewID("dlv") }})
	if err != nil || n != 0 {
		t.Errorf("replay since the future = %d, %v; want 0", n, err)
	}
	_, err = h.s.ReplaySubscription(h.ctx, engine.ReplayParams{SubscriptionID: "sub_missing", Since: base, Now: now, NewID: func() string { return engine.NewID("dlv") }})
	wantErr(t, "ReplaySubscription(missing)", err, engine.ErrNotFound)
}

func testPurgeAttempts(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	d1, d2 := h.deliver(sub, base), h.deliver(sub, base)
	cut := at(time.Hour)
	h.complete(
		outcome(d1, cut.Add(-2*time.Hour), engine.DeliveryPending),
		outcome(d1, cut.Add(-time.Millisecond), engine.DeliveryPending),
		outcome(d2, cut.Add(-time.Minute), engine.DeliveryPending),
		outcome(d1, cut, engine.DeliveryPending), // at the cut: kept
		outcome(d2, cut.Add(time.Minute), engine.DeliveryPending),
	)
	n, err := h.s.PurgeAttempts(h.ctx, cut)
	if err != nil {
		t.Fatalf("PurgeAttempts: %v", err)
	}
	if n != 3 {
		t.Errorf("purged %d; want 3", n)
	}
	for _, tt := range []struct {
		d       *engine.Delivery
		numbers []int
		counted int
	}{{d1, []int{3}, 3}, {d2, []int{2}, 2}} {
		var got []int
		for _, a := range h.attempts(tt.d.ID) {
			got = append(got, a.Number)
		}
		if !slices.Equal(got, tt.numbers) {
			t.Errorf("attempts left of %s: %v; want %v", tt.d.ID, got, tt.numbers)
		}
		// The count on the delivery stays, so numbering goes on.
		if dd := h.delivery(tt.d.ID); dd.Attempts != tt.counted {
			t.Errorf("%s counts %d attempts", tt.d.ID, dd.Attempts)
		}
	}
	if n, err := h.s.PurgeAttempts(h.ctx, cut); err != nil || n != 0 {
		t.Errorf("PurgeAttempts again = %d, %v; want 0", n, err)
	}
}

func testClaimDueTakesTurns(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app := h.app()
	accA, accB := h.account(), h.account()
	// Account A has a backlog on one subscription and a little on another, all older than
	// account B's.
	a1, a2 := h.sub(app, accA), h.sub(app, accA)
	b1 := h.sub(app, accB)
	var backlog []*engine.Delivery
	for i := range 6 {
		backlog = append(backlog, h.deliver(a1, at(time.Duration(-100+i)*time.Second)))
	}
	other := h.deliver(a2, at(-50*time.Second))
	b := []*engine.Delivery{h.deliver(b1, at(-2*time.Second)), h.deliver(b1, at(-time.Second))}

	ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Minute), Limit: 4, PerSubscription: 2})
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	// First turns: A's oldest (a1), B's oldest; second turns: A's a2 (its first, older than
	// a1's second), B's second.
	wantIDs(t, "a claim in turns", workIDs(ws), []string{backlog[0].ID, b[0].ID, other.ID, b[1].ID})
	// What is left: only a1's backlog, two at a time.
	wantIDs(t, "the backlog, two per claim", workIDs(h.claimPer(base, 10, 2)), []string{backlog[1].ID, backlog[2].ID})
	wantIDs(t, "no limit per subscription", workIDs(h.claimPer(base, 10, 0)), []string{backlog[3].ID, backlog[4].ID, backlog[5].ID})
}

// testClaimDueCountsInFlight: of a subscription with deliveries in flight, a claim takes no more
// than the limit per subscription less those; other subscriptions are not held back.
func testClaimDueCountsInFlight(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app := h.app()
	busy, quiet := h.sub(app, h.account()), h.sub(app, h.account())
	var backlog []*engine.Delivery
	for i := range 5 {
		backlog = append(backlog, h.deliver(busy, at(time.Duration(-100+i)*time.Second)))
	}
	q := h.deliver(quiet, at(-time.Second))
	claim := func(inFlight map[string]int) []*engine.Work {
		t.Helper()
		ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Minute), Limit: 10, PerSubscription: 3, InFlight: inFlight})
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		return ws
	}
	wantIDs(t, "a claim beside 2 in flight of 3", workIDs(claim(map[string]int{busy.ID: 2, "sub_gone": 7})), []string{backlog[0].ID, q.ID})
	wantIDs(t, "a claim with the cap full", workIDs(claim(map[string]int{busy.ID: 3})), nil)
	wantIDs(t, "a claim with nothing in flight", workIDs(claim(nil)), []string{backlog[1].ID, backlog[2].ID, backlog[3].ID})
}

// testClaimDueSkips: the deliveries of subscriptions the dispatcher cannot send to now are not
// claimed, however old, and the others are; once they are no longer skipped they are claimed.
func testClaimDueSkips(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app := h.app()
	hung, other := h.sub(app, h.account()), h.sub(app, h.account())
	var backlog []*engine.Delivery
	for i := range 5 {
		backlog = append(backlog, h.deliver(hung, at(time.Duration(-100+i)*time.Second)))
	}
	fresh := h.deliver(other, at(-time.Second))
	ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Minute), Limit: 3, Skip: []string{hung.ID}})
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	wantIDs(t, "a claim that skips the hung subscription", workIDs(ws), []string{fresh.ID})
	wantIDs(t, "a claim that skips nothing", workIDs(h.claim(base, 2)), []string{backlog[0].ID, backlog[1].ID})
}

func testExtendLeases(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	short, long, done, pending := h.deliver(sub, at(-3*time.Second)), h.deliver(sub, at(-2*time.Second)), h.deliver(sub, at(-time.Second)), h.deliver(sub, at(time.Hour))
	if _, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Minute), Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Hour), Limit: 1}); err != nil {
		t.Fatal(err)
	}
	h.claim(base, 1)
	h.complete(outcome(done, base, engine.DeliverySucceeded))

	until := at(10 * time.Minute)
	if err := h.s.ExtendLeases(h.ctx, []string{short.ID, long.ID, done.ID, pending.ID, "dlv_missing"}, until); err != nil {
		t.Fatalf("ExtendLeases: %v", err)
	}
	wantTimePtr(t, "the short lease", h.delivery(short.ID).LeaseUntil, &until)
	wantTimePtr(t, "a longer lease is never shortened", h.delivery(long.ID).LeaseUntil, ptr(at(time.Hour)))
	if got := h.delivery(done.ID); got.State != engine.DeliverySucceeded || got.LeaseUntil != nil {
		t.Errorf("a finished delivery: %s, lease %v", got.State, got.LeaseUntil)
	}
	if got := h.delivery(pending.ID); got.State != engine.DeliveryPending || got.LeaseUntil != nil {
		t.Errorf("a pending delivery: %s, lease %v", got.State, got.LeaseUntil)
	}
	// The extended lease is not recovered at its old end.
	if n, err := h.s.RecoverLeases(h.ctx, engine.RecoverLeasesParams{ExpiredBefore: at(5 * time.Minute), DueAt: at(5 * time.Minute)}); err != nil || n != 0 {
		t.Errorf("RecoverLeases past the old end = %d, %v; want 0", n, err)
	}
	if err := h.s.ExtendLeases(h.ctx, nil, until); err != nil {
		t.Errorf("ExtendLeases(none): %v", err)
	}
}

// testLeaseOwners: a lease names the node that took it, by a claim or handed over at ingest; the
// name goes when the lease ends, however it ends; and a node recovers its own leases only, so that
// on a database other nodes share it never takes back their deliveries in flight.
func testLeaseOwners(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	a1, a2, a3 := h.deliver(sub, base), h.deliver(sub, base), h.deliver(sub, base)
	ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Hour), Limit: 3, Owner: "node_a"})
	if err != nil || len(ws) != 3 {
		t.Fatalf("claim by node_a: %d, %v; want 3", len(ws), err)
	}
	for _, w := range ws {
		if w.Delivery.LeaseOwner != "node_a" {
			t.Errorf("claimed work's owner %q; want node_a", w.Delivery.LeaseOwner)
		}
	}
	b := h.deliver(sub, base)
	if ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Hour), Limit: 3, Owner: "node_b"}); err != nil || len(ws) != 1 {
		t.Fatalf("claim by node_b: %d, %v; want 1", len(ws), err)
	}
	// Handed over at ingest: stored leased, with its owner.
	ev := newEvent(acc)
	h.ingest(func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		d := newDelivery(ev, subs[0], base)
		lease := at(time.Hour)
		d.State, d.LeaseUntil, d.LeaseOwner = engine.DeliveryInFlight, &lease, "node_b"
		return []*engine.Delivery{d}
	}, ev)
	ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{EventID: ev.ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("handed-over delivery: %d, %v", len(ds), err)
	}
	handed := ds[0]
	for _, d := range []*engine.Delivery{a1, a2, a3, b, handed} {
		want := "node_a"
		if d == b || d == handed {
			want = "node_b"
		}
		if got := h.delivery(d.ID); got.State != engine.DeliveryInFlight || got.LeaseOwner != want {
			t.Errorf("%s: %s owned by %q; want in flight, %q", d.ID, got.State, got.LeaseOwner, want)
		}
	}

	// node_b starts again: its leases, not yet ended, come back at once; node_a's stay.
	n, err := h.s.RecoverLeases(h.ctx, engine.RecoverLeasesParams{ExpiredBefore: at(100 * 24 * time.Hour), DueAt: base, Owner: "node_b"})
	if err != nil || n != 2 {
		t.Fatalf("RecoverLeases of node_b = %d, %v; want 2", n, err)
	}
	for _, d := range []*engine.Delivery{b, handed} {
		if got := h.delivery(d.ID); got.State != engine.DeliveryPending || got.LeaseOwner != "" || got.LeaseUntil != nil {
			t.Errorf("%s after node_b's recovery: %s, owner %q, lease %v; want pending, none", d.ID, got.State, got.LeaseOwner, got.LeaseUntil)
		}
	}
	for _, d := range []*engine.Delivery{a1, a2, a3} {
		if got := h.delivery(d.ID); got.State != engine.DeliveryInFlight || got.LeaseOwner != "node_a" {
			t.Errorf("node_a's %s after node_b's recovery: %s, owner %q", d.ID, got.State, got.LeaseOwner)
		}
	}
	// Every other end of a lease clears its owner: a release, an outcome, an expiry.
	if err := h.s.ReleaseLeases(h.ctx, []string{a1.ID}, base); err != nil {
		t.Fatal(err)
	}
	h.complete(outcome(a2, base, engine.DeliveryPending))
	if n, err := h.s.RecoverLeases(h.ctx, engine.RecoverLeasesParams{ExpiredBefore: at(2 * time.Hour), DueAt: base}); err != nil || n != 1 {
		t.Fatalf("RecoverLeases of expired leases = %d, %v; want 1 (a3)", n, err)
	}
	for _, d := range []*engine.Delivery{a1, a2, a3} {
		if got := h.delivery(d.ID); got.State != engine.DeliveryPending || got.LeaseOwner != "" {
			t.Errorf("%s after its lease ended: %s, owner %q; want pending, none", d.ID, got.State, got.LeaseOwner)
		}
	}
}

// testCompleteSkipped: a delivery a style's rule kept from its receiver ends skipped, with its
// reason and the attempt that records it; it leaves the subscription's health as it was (the
// receiver was not asked), is listed by its state, is never claimed again, and can be retried by
// hand, alone or in bulk.
func testCompleteSkipped(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub, healthy := h.sub(app, acc), h.sub(app, acc)
	failed, skipped, other := h.deliver(sub, base), h.deliver(sub, base), h.deliver(healthy, base)
	h.complete(outcome(failed, at(time.Second), engine.DeliveryPending))
	h.complete(outcome(skipped, at(2*time.Second), engine.DeliverySkipped), outcome(other, at(2*time.Second), engine.DeliverySkipped))

	t1 := at(time.Second)
	wantTimePtr(t, "FailingSince of the failing subscription after a skip", h.subscription(sub.ID).FailingSince, &t1)
	wantTimePtr(t, "FailingSince of the healthy subscription after a skip", h.subscription(healthy.ID).FailingSince, nil)
	got := h.delivery(skipped.ID)
	if got.State != engine.DeliverySkipped || got.Attempts != 1 || got.LastError != "user u-1 may not invoices:delete" || got.LastStatus != 0 || got.LeaseUntil != nil {
		t.Errorf("skipped delivery: %+v; want skipped, 1 attempt, the reason, no status, no lease", got)
	}
	if as := h.attempts(skipped.ID); len(as) != 1 || as[0].Outcome != engine.OutcomeSkip || as[0].RequestURL != "" {
		t.Errorf("attempts of the skipped delivery: %+v; want one, outcome skip, no request", as)
	}
	list, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{State: engine.DeliverySkipped})
	if err != nil {
		t.Fatalf("ListDeliveries(skipped): %v", err)
	}
	wantIDs(t, "ListDeliveries(skipped)", deliveryIDs(list), []string{other.ID, skipped.ID})
	// failed is pending, due after its retry delay: nothing skipped is claimed.
	wantIDs(t, "claimed", workIDs(h.claim(at(time.Hour), 10)), []string{failed.ID})

	d, err := h.s.RetryDelivery(h.ctx, skipped.ID, at(2*time.Hour))
	if err != nil {
		t.Fatalf("RetryDelivery(skipped): %v", err)
	}
	if d.State != engine.DeliveryPending || d.Attempts != 1 {
		t.Errorf("retried skipped delivery: %s, %d attempts; want pending, 1", d.State, d.Attempts)
	}
	n, err := h.s.RetryDeliveries(h.ctx, engine.RetryDeliveriesParams{States: []engine.DeliveryState{engine.DeliverySkipped}, Now: at(2 * time.Hour), Limit: 10})
	if err != nil || n != 1 {
		t.Errorf("RetryDeliveries(skipped) = %d, %v; want 1 (the other skipped one)", n, err)
	}
	wantIDs(t, "claimed after the retries", workIDs(h.claim(at(2*time.Hour), 10)), []string{skipped.ID, other.ID})
}
