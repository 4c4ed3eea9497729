package storetest

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// testPausedSubscription: a paused subscription's events still make deliveries, but no claim takes
// them and NextDue does not count them; once resumed, the oldest is claimed first.
func testPausedSubscription(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	paused, running := h.sub(app, acc), h.sub(app, acc)
	old := h.deliver(paused, at(-time.Hour))

	s := h.subscription(paused.ID)
	s.PausedAt = ptr(at(-time.Minute))
	if err := h.s.UpdateSubscription(h.ctx, s); err != nil {
		t.Fatalf("UpdateSubscription (pause): %v", err)
	}
	wantTimePtr(t, "PausedAt", h.subscription(paused.ID).PausedAt, ptr(at(-time.Minute)))

	// Ingest offers the paused subscription, marked paused, and stores its delivery.
	var offered *engine.Subscription
	ev := newEvent(acc)
	res := h.ingest(func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		for _, x := range subs {
			if x.ID == paused.ID {
				offered = x
			}
		}
		return routeAll(at(-time.Second))(ev, subs)
	}, ev)
	if res[0].Deliveries != 2 {
		t.Fatalf("Ingest made %d deliveries; want 2, one for the paused subscription too", res[0].Deliveries)
	}
	if offered == nil || offered.PausedAt == nil {
		t.Fatalf("Ingest offered the paused subscription as %+v; want it offered with PausedAt", offered)
	}
	ws := h.claim(base, 10)
	if len(ws) != 1 || ws[0].Subscription.ID != running.ID {
		t.Fatalf("claim while paused took %v; want only the running subscription's delivery", workIDs(ws))
	}
	if next, ok, err := h.s.NextDue(h.ctx); err != nil || ok {
		t.Errorf("NextDue with only a paused subscription's deliveries pending = %v, %v, %v; want false", next, ok, err)
	}

	s = h.subscription(paused.ID)
	s.PausedAt = nil
	if err := h.s.UpdateSubscription(h.ctx, s); err != nil {
		t.Fatalf("UpdateSubscription (resume): %v", err)
	}
	if got := h.subscription(paused.ID).PausedAt; got != nil {
		t.Errorf("PausedAt after resuming = %v; want nil", got)
	}
	next, ok, err := h.s.NextDue(h.ctx)
	if err != nil || !ok {
		t.Fatalf("NextDue after resuming = %v, %v", ok, err)
	}
	wantTime(t, "NextDue after resuming", next, at(-time.Hour))
	ws = h.claim(base, 10)
	if len(ws) != 2 || ws[0].Delivery.ID != old.ID || ws[1].Subscription.ID != paused.ID {
		t.Errorf("claim after resuming took %v; want %s and then the delivery made while paused", workIDs(ws), old.ID)
	}
}

// testRetryPendingDelivery: retrying a pending delivery makes it due now; one due sooner keeps its
// place.
func testRetryPendingDelivery(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	sub := h.sub(h.app(), h.account())
	later, sooner := h.deliver(sub, at(time.Hour)), h.deliver(sub, at(-time.Hour))
	got, err := h.s.RetryDelivery(h.ctx, later.ID, base)
	if err != nil {
		t.Fatalf("RetryDelivery(pending, due later): %v", err)
	}
	want := *later
	want.NextAttemptAt, want.UpdatedAt = base, base
	wantSame(t, "a pending delivery retried", got, &want)
	wantSame(t, "stored", h.delivery(later.ID), &want)

	got, err = h.s.RetryDelivery(h.ctx, sooner.ID, base)
	if err != nil {
		t.Fatalf("RetryDelivery(pending, due already): %v", err)
	}
	wantTime(t, "a delivery due sooner keeps its time", got.NextAttemptAt, at(-time.Hour))
	wantIDs(t, "claim", workIDs(h.claim(base, 10)), []string{sooner.ID, later.ID})
}

func testRetryDeliveries(t *testing.T, open func(t *testing.T) engine.Store) {
	type fixture struct {
		h                                 *harness
		app1, app2                        *engine.App
		acc1, acc2                        *engine.Account
		s1                                *engine.Subscription
		dead1, failed1, ok1, dead2, dead3 *engine.Delivery
		later1, due1                      *engine.Delivery
	}
	// Each delivery is driven to its state before the next is made, since driving claims
	// everything due.
	build := func(t *testing.T) *fixture {
		h := setup(t, open)
		f := &fixture{h: h, app1: h.app(), app2: h.app(), acc1: h.account(), acc2: h.account()}
		f.s1 = h.sub(f.app1, f.acc1)
		s2, s3 := h.sub(f.app1, f.acc2), h.sub(f.app2, f.acc1)
		f.dead1 = h.drive(h.deliver(f.s1, base, func(ev *engine.Event) { ev.CreatedAt = at(-2 * time.Hour) }), engine.DeliveryDead)
		f.failed1 = h.drive(h.deliver(f.s1, base), engine.DeliveryFailed)
		f.ok1 = h.drive(h.deliver(f.s1, base), engine.DeliverySucceeded)
		f.dead2 = h.drive(h.deliver(s2, base), engine.DeliveryDead)
		f.dead3 = h.drive(h.deliver(s3, base), engine.DeliveryDead)
		f.later1 = h.deliver(f.s1, at(time.Hour))
		f.due1 = h.deliver(f.s1, at(-time.Minute))
		return f
	}
	now := at(10 * time.Minute)
	for _, tt := range []struct {
		name string
		p    func(f *fixture) engine.RetryDeliveriesParams
		want func(f *fixture) []*engine.Delivery
	}{
		{"FailedAndDead",
			func(f *fixture) engine.RetryDeliveriesParams { return engine.RetryDeliveriesParams{} },
			func(f *fixture) []*engine.Delivery { return []*engine.Delivery{f.dead1, f.failed1, f.dead2, f.dead3} }},
		{"App",
			func(f *fixture) engine.RetryDeliveriesParams {
				return engine.RetryDeliveriesParams{Scope: engine.DeliveryFilter{AppID: f.app1.ID}}
			},
			func(f *fixture) []*engine.Delivery { return []*engine.Delivery{f.dead1, f.failed1, f.dead2} }},
		{"AppAndAccount",
			func(f *fixture) engine.RetryDeliveriesParams {
				return engine.RetryDeliveriesParams{Scope: engine.DeliveryFilter{AppID: f.app1.ID, AccountID: f.acc1.ID}}
			},
			func(f *fixture) []*engine.Delivery { return []*engine.Delivery{f.dead1, f.failed1} }},
		{"SubscriptionDead",
			func(f *fixture) engine.RetryDeliveriesParams {
				return engine.RetryDeliveriesParams{SubscriptionID: f.s1.ID, States: []engine.DeliveryState{engine.DeliveryDead}}
			},
			func(f *fixture) []*engine.Delivery { return []*engine.Delivery{f.dead1} }},
		{"Since",
			func(f *fixture) engine.RetryDeliveriesParams {
				return engine.RetryDeliveriesParams{Since: at(-time.Hour)}
			},
			func(f *fixture) []*engine.Delivery { return []*engine.Delivery{f.failed1, f.dead2, f.dead3} }},
		{"Until",
			func(f *fixture) engine.RetryDeliveriesParams {
				return engine.RetryDeliveriesParams{Until: at(-time.Hour)}
			},
			func(f *fixture) []*engine.Delivery { return []*engine.Delivery{f.dead1} }},
		{"PendingDueLater",
			func(f *fixture) engine.RetryDeliveriesParams {
				return engine.RetryDeliveriesParams{States: []engine.DeliveryState{engine.DeliveryPending}}
			},
			func(f *fixture) []*engine.Delivery { return []*engine.Delivery{f.later1} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := build(t)
			p := tt.p(f)
			if p.States == nil {
				p.States = []engine.DeliveryState{engine.DeliveryFailed, engine.DeliveryDead}
			}
			p.Now, p.Limit = now, 100
			n, err := f.h.s.RetryDeliveries(f.h.ctx, p)
			if err != nil {
				t.Fatalf("RetryDeliveries: %v", err)
			}
			want := tt.want(f)
			if n != len(want) {
				t.Errorf("RetryDeliveries = %d; want %d", n, len(want))
			}
			retried := map[string]bool{}
			for _, d := range want {
				retried[d.ID] = true
				got := f.h.delivery(d.ID)
				if got.State != engine.DeliveryPending || !got.NextAttemptAt.Equal(now) || got.LeaseUntil != nil || got.Attempts != d.Attempts {
					t.Errorf("%s after the retry: %s due %v, lease %v, %d attempts; want pending due %v with its %d attempts",
						d.ID, got.State, got.NextAttemptAt, got.LeaseUntil, got.Attempts, now, d.Attempts)
				}
			}
			for _, d := range []*engine.Delivery{f.dead1, f.failed1, f.ok1, f.dead2, f.dead3, f.later1, f.due1} {
				if !retried[d.ID] {
					wantSame(t, "a delivery not retried", f.h.delivery(d.ID), d)
				}
			}
			// Again: nothing is left to retry, so a caller repeating the call stops.
			if n, err := f.h.s.RetryDeliveries(f.h.ctx, p); err != nil || n != 0 {
				t.Errorf("RetryDeliveries again = %d, %v; want 0", n, err)
			}
		})
	}
	t.Run("Limit", func(t *testing.T) {
		f := build(t)
		p := engine.RetryDeliveriesParams{States: []engine.DeliveryState{engine.DeliveryFailed, engine.DeliveryDead}, Now: now, Limit: 2}
		var counts []int
		for range 4 {
			n, err := f.h.s.RetryDeliveries(f.h.ctx, p)
			if err != nil {
				t.Fatalf("RetryDeliveries: %v", err)
			}
			counts = append(counts, n)
			if n == 1 && f.h.delivery(f.failed1.ID).State != engine.DeliveryPending {
				t.Errorf("the oldest were not retried first")
			}
		}
		if counts[0] != 2 || counts[1] != 2 || counts[2] != 0 || counts[3] != 0 {
			t.Errorf("calls with a limit of 2 retried %v; want [2 2 0 0]", counts)
		}
		if got := f.h.delivery(f.failed1.ID); got.State != engine.DeliveryPending {
			t.Errorf("the first call did not take the oldest: failed1 is %s", got.State)
		}
	})
}

func testListEvents(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	acc1, acc2 := h.account(), h.account()
	none := func(*engine.Event, []*engine.Subscription) []*engine.Delivery { return nil }
	e1 := newEvent(acc1, func(ev *engine.Event) { ev.CreatedAt = at(-2 * time.Hour) })
	e2 := newEvent(acc1, func(ev *engine.Event) { ev.Type, ev.CreatedAt = "invoice.paid", at(-time.Hour) })
	e3 := newEvent(acc2)
	h.ingest(none, e1, e2, e3)
	ids := func(evs []*engine.Event) []string {
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.ID
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    engine.EventFilter
		want []*engine.Event
	}{
		{"All", engine.EventFilter{}, []*engine.Event{e3, e2, e1}},
		{"Account", engine.EventFilter{AccountID: acc1.ID}, []*engine.Event{e2, e1}},
		{"Type", engine.EventFilter{Type: "client.create"}, []*engine.Event{e3, e1}},
		{"AccountAndType", engine.EventFilter{AccountID: acc1.ID, Type: "client.create"}, []*engine.Event{e1}},
		{"Since", engine.EventFilter{Since: at(-time.Hour)}, []*engine.Event{e3, e2}},
		{"Until", engine.EventFilter{Until: at(-time.Hour)}, []*engine.Event{e1}},
		{"Limit", engine.EventFilter{Limit: 2}, []*engine.Event{e3, e2}},
		{"Before", engine.EventFilter{Before: e3.ID, Limit: 1}, []*engine.Event{e2}},
		{"NoMatch", engine.EventFilter{AccountID: acc2.ID, Type: "invoice.paid"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.s.ListEvents(h.ctx, tt.f)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			wantIDs(t, "events", ids(got), ids(tt.want))
			for _, ev := range got {
				stored, err := h.s.GetEvent(h.ctx, ev.ID)
				if err != nil {
					t.Fatalf("GetEvent: %v", err)
				}
				wantSame(t, "a listed event", ev, stored)
			}
		})
	}
}
