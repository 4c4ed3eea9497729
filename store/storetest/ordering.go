package storetest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Ordered delivery (issue 22): a delivery with an OrderingKey waits in its (subscription, key)
// queue, numbered at ingest, and the claim hands out only a queue's head.

// routeOrdered routes every event to every subscription it is offered, due at due, with the
// ordering key the engine gives: the entity's for "entity", one for the whole subscription.
func routeOrdered(due time.Time) route {
	return func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		var out []*engine.Delivery
		for _, s := range subs {
			d := newDelivery(ev, s, due)
			switch s.Ordering {
			case engine.OrderingEntity:
				d.OrderingKey = ev.Entity.Type + ":" + ev.Entity.ID
			case engine.OrderingSubscription:
				d.OrderingKey = "*"
			}
			out = append(out, d)
		}
		return out
	}
}

func ordered(by engine.Ordering, onDead engine.OnDead) func(*engine.Subscription) {
	return func(s *engine.Subscription) { s.Ordering, s.OnDead = by, onDead }
}

func about(id string) func(*engine.Event) {
	return func(ev *engine.Event) { ev.Entity = engine.Entity{Type: "client", ID: id} }
}

// queueOf returns sub's deliveries for entity id, by sequence.
func (h *harness) queueOf(sub *engine.Subscription, key string) []*engine.Delivery {
	h.t.Helper()
	all, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{SubscriptionID: sub.ID})
	if err != nil {
		h.t.Fatalf("ListDeliveries: %v", err)
	}
	var out []*engine.Delivery
	for _, d := range all {
		if d.OrderingKey == key {
			out = append(out, d)
		}
	}
	// Newest first from ListDeliveries; by sequence here.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	for i := 1; i < len(out); i++ {
		if out[i].Sequence < out[i-1].Sequence {
			h.t.Fatalf("queue %q: IDs and sequences disagree: %d after %d", key, out[i].Sequence, out[i-1].Sequence)
		}
	}
	return out
}

func testOrderingSequences(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	byEntity := h.sub(app, acc, ordered(engine.OrderingEntity, engine.OnDeadContinue))
	whole := h.sub(app, acc, ordered(engine.OrderingSubscription, engine.OnDeadContinue))
	plain := h.sub(app, acc)

	// Two calls, entities interleaved, one event about no entity.
	first := []*engine.Event{newEvent(acc, about("a")), newEvent(acc, about("b")), newEvent(acc, about("a"))}
	second := []*engine.Event{newEvent(acc, about("b")), newEvent(acc, about("")), newEvent(acc, about("a"))}
	h.ingest(routeOrdered(base), first...)
	h.ingest(routeOrdered(base), second...)

	check := func(sub *engine.Subscription, key string, events ...*engine.Event) {
		t.Helper()
		q := h.queueOf(sub, key)
		if len(q) != len(events) {
			t.Fatalf("queue %q of %s holds %d deliveries; want %d", key, sub.ID, len(q), len(events))
		}
		for i, d := range q {
			if d.Sequence != int64(i+1) || d.EventID != events[i].ID {
				t.Errorf("queue %q place %d: sequence %d, event %s; want %d, %s", key, i, d.Sequence, d.EventID, i+1, events[i].ID)
			}
		}
	}
	check(byEntity, "client:a", first[0], first[2], second[2])
	check(byEntity, "client:b", first[1], second[0])
	check(byEntity, "client:", second[1]) // the route gave it a key: it is numbered like any other
	check(whole, "*", append(append([]*engine.Event{}, first...), second...)...)
	for _, d := range h.queueOf(plain, "") {
		if d.Sequence != 0 {
			t.Errorf("unordered delivery %s has sequence %d", d.ID, d.Sequence)
		}
	}
}

func testOrderingClaimsHeadsOnly(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc, ordered(engine.OrderingEntity, engine.OnDeadContinue))
	plain := h.sub(app, acc)
	h.ingest(routeOrdered(base), newEvent(acc, about("a")), newEvent(acc, about("a")), newEvent(acc, about("a")),
		newEvent(acc, about("b")), newEvent(acc, about("b")))
	qa, qb := h.queueOf(sub, "client:a"), h.queueOf(sub, "client:b")
	u := h.queueOf(plain, "")
	if len(qa) != 3 || len(qb) != 2 || len(u) != 5 {
		t.Fatalf("queues of %d, %d, unordered %d; want 3, 2, 5", len(qa), len(qb), len(u))
	}

	ws := h.claim(base, 100)
	want := map[string]bool{qa[0].ID: true, qb[0].ID: true}
	for _, d := range u {
		want[d.ID] = true
	}
	got := map[string]bool{}
	for _, w := range ws {
		got[w.Delivery.ID] = true
		if w.Delivery.Sequence != 0 && w.Delivery.Sequence != 1 {
			t.Errorf("claimed %s, sequence %d of %q, behind undone ones", w.Delivery.ID, w.Delivery.Sequence, w.Delivery.OrderingKey)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claimed %v; want the heads and every unordered delivery %v", workIDs(ws), want)
	}
	if ws := h.claim(at(time.Hour), 100); len(ws) != 0 {
		t.Errorf("claimed %v while the heads are in flight", workIDs(ws))
	}

	// a's head fails and waits an hour; a's second, due now, still waits behind it.
	retry := outcome(qa[0], base, engine.DeliveryPending)
	retry.NextAttemptAt = at(time.Hour)
	h.complete(retry, outcome(qb[0], base, engine.DeliverySucceeded))
	ws = h.claim(at(time.Minute), 100)
	wantIDs(t, "after a's head failed and b's succeeded", workIDs(ws), []string{qb[1].ID})

	// Its retry comes due: the head again, not the one behind it.
	ws = h.claim(at(time.Hour), 100)
	wantIDs(t, "a's retry", workIDs(ws), []string{qa[0].ID})
	h.complete(outcome(qa[0], at(time.Hour), engine.DeliverySucceeded))
	ws = h.claim(at(time.Hour), 100)
	wantIDs(t, "after a's head succeeded", workIDs(ws), []string{qa[1].ID})

	// A head that Skip leaves out holds its queue all the same.
	h.complete(outcome(qa[1], at(time.Hour), engine.DeliveryPending))
	ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: at(2 * time.Hour), LeaseUntil: at(3 * time.Hour), Limit: 10, Skip: []string{sub.ID}})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "claim skipping the ordered subscription", workIDs(ws), nil)
	ws = h.claim(at(2*time.Hour), 100)
	wantIDs(t, "claim without skipping", workIDs(ws), []string{qa[1].ID})
}

func testOrderingLeaseExpiry(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc, ordered(engine.OrderingEntity, engine.OnDeadContinue))
	h.ingest(routeOrdered(base), newEvent(acc, about("a")), newEvent(acc, about("a")))
	q := h.queueOf(sub, "client:a")

	ws := h.claim(base, 10) // leased for a minute
	wantIDs(t, "first claim", workIDs(ws), []string{q[0].ID})
	// The node that claimed it is gone: its lease ends, and nobody completes it.
	later := at(10 * time.Minute)
	if ws := h.claim(later, 10); len(ws) != 0 {
		t.Errorf("claimed %v while the head's lease had ended but not been recovered", workIDs(ws))
	}
	if n, err := h.s.RecoverLeases(h.ctx, engine.RecoverLeasesParams{ExpiredBefore: later, DueAt: later}); err != nil || n != 1 {
		t.Fatalf("RecoverLeases: %d, %v; want 1", n, err)
	}
	ws = h.claim(later, 10)
	wantIDs(t, "after recovery", workIDs(ws), []string{q[0].ID})
	if got := ws[0].Delivery; got.Sequence != 1 || got.OrderingKey != "client:a" {
		t.Errorf("claimed work: sequence %d, key %q; want 1, client:a", got.Sequence, got.OrderingKey)
	}
	h.complete(outcome(q[0], later, engine.DeliverySucceeded))
	wantIDs(t, "after the head succeeded", workIDs(h.claim(later, 10)), []string{q[1].ID})
}

func testOrderingOnDeadContinue(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc, ordered(engine.OrderingEntity, engine.OnDeadContinue))
	h.ingest(routeOrdered(base), newEvent(acc, about("a")), newEvent(acc, about("a")), newEvent(acc, about("a")))
	q := h.queueOf(sub, "client:a")

	held := h.held(sub)
	if held.Deliveries != 2 || len(held.Behind) != 1 || held.Behind[0].DeliveryID != q[0].ID || held.Behind[0].Held != 2 ||
		held.Behind[0].State != engine.DeliveryPending || held.Behind[0].Sequence != 1 || held.Behind[0].NextAttemptAt == nil {
		t.Errorf("held before any claim: %+v; want 2 behind %s, pending, sequence 1", held, q[0].ID)
	}
	wantIDs(t, "first claim", workIDs(h.claim(base, 10)), []string{q[0].ID})
	h.complete(outcome(q[0], base, engine.DeliveryDead))
	wantIDs(t, "after the head died", workIDs(h.claim(base, 10)), []string{q[1].ID})
	if held := h.held(sub); held.Deliveries != 1 || len(held.Behind) != 1 || held.Behind[0].DeliveryID != q[1].ID ||
		held.Behind[0].State != engine.DeliveryInFlight {
		t.Errorf("held: %+v; want 1 behind %s in flight", held, q[1].ID)
	}
}

func testOrderingOnDeadBlock(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc, ordered(engine.OrderingEntity, engine.OnDeadBlock))
	h.ingest(routeOrdered(base), newEvent(acc, about("a")), newEvent(acc, about("a")), newEvent(acc, about("a")),
		newEvent(acc, about("b")))
	q, qb := h.queueOf(sub, "client:a"), h.queueOf(sub, "client:b")

	wantIDs(t, "first claim", sorted(workIDs(h.claim(base, 10))), sorted([]string{q[0].ID, qb[0].ID}))
	h.complete(outcome(q[0], base, engine.DeliveryDead), outcome(qb[0], base, engine.DeliverySucceeded))
	if ws := h.claim(base, 10); len(ws) != 0 {
		t.Errorf("claimed %v behind a dead delivery under on_dead block", workIDs(ws))
	}
	// Held deliveries are not due work: the dispatcher must not poll for them.
	if next, ok, err := h.s.NextDue(h.ctx); err != nil || ok {
		t.Errorf("NextDue with only held deliveries pending: %v, %v, %v; want none", next, ok, err)
	}
	held := h.held(sub)
	if held.Deliveries != 2 || len(held.Behind) != 1 || held.Behind[0].DeliveryID != q[0].ID ||
		held.Behind[0].State != engine.DeliveryDead || held.Behind[0].NextAttemptAt != nil || held.Behind[0].LastError == "" {
		t.Errorf("held: %+v; want 2 behind dead %s with its error", held, q[0].ID)
	}

	// An operator retries it: it goes first, alone.
	if _, err := h.s.RetryDelivery(h.ctx, q[0].ID, at(time.Minute)); err != nil {
		t.Fatalf("RetryDelivery: %v", err)
	}
	wantIDs(t, "after the retry", workIDs(h.claim(at(time.Minute), 10)), []string{q[0].ID})
	_, err := h.s.SkipDelivery(h.ctx, q[0].ID, "skipped", at(time.Minute))
	wantErr(t, "SkipDelivery of an in-flight delivery", err, engine.ErrConflict)
	h.complete(outcome(q[0], at(time.Minute), engine.DeliveryDead))
	if ws := h.claim(at(time.Minute), 10); len(ws) != 0 {
		t.Errorf("claimed %v behind a dead delivery under on_dead block", workIDs(ws))
	}

	// Then skips it: what waited goes on, in order.
	d, err := h.s.SkipDelivery(h.ctx, q[0].ID, "skipped by the operator", at(2*time.Minute))
	if err != nil {
		t.Fatalf("SkipDelivery: %v", err)
	}
	if d.State != engine.DeliverySkipped || d.LastError != "skipped by the operator" || d.Attempts != 2 {
		t.Errorf("skipped delivery: %s, %q, %d attempts; want skipped, the reason, 2", d.State, d.LastError, d.Attempts)
	}
	wantSame(t, "skipped delivery as stored", h.delivery(q[0].ID), d)
	_, err = h.s.SkipDelivery(h.ctx, q[0].ID, "again", at(2*time.Minute))
	wantErr(t, "SkipDelivery of a skipped delivery", err, engine.ErrConflict)
	_, err = h.s.SkipDelivery(h.ctx, "dlv_missing", "x", at(2*time.Minute))
	wantErr(t, "SkipDelivery of a missing delivery", err, engine.ErrNotFound)
	wantIDs(t, "after the skip", workIDs(h.claim(at(2*time.Minute), 10)), []string{q[1].ID})

	// A pending delivery may be skipped too, and the subscription's on_dead changed: a dead head
	// then holds nothing back any more.
	h.complete(outcome(q[1], at(2*time.Minute), engine.DeliveryDead))
	if ws := h.claim(at(3*time.Minute), 10); len(ws) != 0 {
		t.Errorf("claimed %v behind a dead delivery under on_dead block", workIDs(ws))
	}
	s := h.subscription(sub.ID)
	s.OnDead = engine.OnDeadContinue
	if err := h.s.UpdateSubscription(h.ctx, s); err != nil {
		t.Fatal(err)
	}
	if held := h.held(sub); held.Deliveries != 0 || len(held.Behind) != 0 {
		t.Errorf("held under on_dead continue: %+v; want nothing", held)
	}
	if _, err := h.s.SkipDelivery(h.ctx, q[2].ID, "skipped", at(3*time.Minute)); err != nil {
		t.Errorf("SkipDelivery of a pending delivery: %v", err)
	}
	if ws := h.claim(at(3*time.Minute), 10); len(ws) != 0 {
		t.Errorf("claimed %v; the last one was skipped", workIDs(ws))
	}
}

func (h *harness) held(sub *engine.Subscription) *engine.Held {
	h.t.Helper()
	held, err := h.s.HeldDeliveries(h.ctx, sub.ID, 10)
	if err != nil {
		h.t.Fatalf("HeldDeliveries: %v", err)
	}
	return held
}

func testOrderingReplay(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc, ordered(engine.OrderingEntity, engine.OnDeadContinue))
	// Accepted in one order, though they say they occurred in the other.
	e1 := newEvent(acc, about("a"), func(ev *engine.Event) { ev.OccurredAt = at(-time.Minute) })
	e2 := newEvent(acc, about("a"), func(ev *engine.Event) { ev.OccurredAt = at(-2 * time.Minute) })
	h.ingest(routeOrdered(base), e1)
	h.ingest(routeOrdered(base), e2)
	q := h.queueOf(sub, "client:a")
	for _, d := range q {
		h.s.SkipDelivery(h.ctx, d.ID, "done", base) //nolint:errcheck // the queue is emptied either way
	}
	n, err := h.s.ReplaySubscription(h.ctx, engine.ReplayParams{SubscriptionID: sub.ID, Since: at(-time.Hour), Now: base,
		NewID:       func() string { return engine.NewID("dlv") },
		OrderingKey: func(e engine.Entity) string { return e.Type + ":" + e.ID }})
	if err != nil || n != 2 {
		t.Fatalf("ReplaySubscription: %d, %v; want 2", n, err)
	}
	q = h.queueOf(sub, "client:a")
	if len(q) != 4 {
		t.Fatalf("queue holds %d; want 4", len(q))
	}
	if q[2].Sequence != 3 || q[2].EventID != e1.ID || q[3].Sequence != 4 || q[3].EventID != e2.ID {
		t.Errorf("replayed: %d %s, %d %s; want 3 %s, 4 %s", q[2].Sequence, q[2].EventID, q[3].Sequence, q[3].EventID, e1.ID, e2.ID)
	}
	wantIDs(t, "claim after the replay", workIDs(h.claim(base, 10)), []string{q[2].ID})
}

// testOrderingConcurrentClaims claims and completes from many goroutines at once (on PostgreSQL,
// many connections: as many nodes would): no queue ever has two deliveries out at once, and each
// queue's deliveries go in sequence order.
func testOrderingConcurrentClaims(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	h.sub(app, acc, ordered(engine.OrderingEntity, engine.OnDeadContinue))
	const entities, perEntity = 6, 25
	var events []*engine.Event
	for i := range perEntity {
		for e := range entities {
			events = append(events, newEvent(acc, about(fmt.Sprintf("e%d", (e+i)%entities))))
		}
	}
	h.ingest(routeOrdered(base), events...)

	const workers = 8
	var (
		mu     sync.Mutex
		out    = map[string]string{} // queue -> delivery out now
		next   = map[string]int64{}  // queue -> the sequence it must hand out next
		handed int
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The bound only keeps a broken store from hanging the test.
			for idle := 0; idle < 20000; {
				ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: base, LeaseUntil: at(time.Minute), Limit: 3})
				if err != nil {
					t.Error(err)
					return
				}
				if len(ws) == 0 {
					mu.Lock()
					finished := handed == entities*perEntity
					mu.Unlock()
					if finished {
						return
					}
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				for _, w := range ws {
					d := w.Delivery
					if other, busy := out[d.OrderingKey]; busy {
						t.Errorf("%s (sequence %d) handed out while %s of its queue was", d.ID, d.Sequence, other)
					}
					if next[d.OrderingKey]+1 != d.Sequence {
						t.Errorf("queue %s: sequence %d handed out after %d", d.OrderingKey, d.Sequence, next[d.OrderingKey])
					}
					out[d.OrderingKey], next[d.OrderingKey] = d.ID, d.Sequence
					handed++
				}
				mu.Unlock()
				// Out of the map before the commit (the next of its queue can be claimed only
				// after that), but not before another claim had its chance to take the next too soon.
				runtime.Gosched()
				outs := make([]*engine.Outcome, len(ws))
				mu.Lock()
				for i, w := range ws {
					delete(out, w.Delivery.OrderingKey)
					outs[i] = outcome(w.Delivery, base, engine.DeliverySucceeded)
				}
				mu.Unlock()
				if err := h.s.Complete(h.ctx, outs); err != nil {
					t.Error(err)
					return
				}
			}
			t.Error("gave up waiting for work")
		}()
	}
	wg.Wait()
	if handed != entities*perEntity {
		t.Errorf("handed out %d; want %d", handed, entities*perEntity)
	}
}
