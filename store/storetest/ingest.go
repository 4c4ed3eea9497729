package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

func testIngestRouting(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app1, app2 := h.app(), h.app()
	acc, other := h.account(), h.account()
	active1 := h.sub(app1, acc)
	active2 := h.sub(app2, acc, func(s *engine.Subscription) { s.EntityKey = "c1" })
	h.sub(app1, acc, func(s *engine.Subscription) { s.State = engine.SubscriptionDisabled })
	h.sub(app1, acc, func(s *engine.Subscription) { s.State = engine.SubscriptionPending })
	otherActive := h.sub(app1, other)
	quiet := h.account() // no subscriptions

	offered := map[string][]string{} // event ID -> subscription IDs offered
	var routed []*engine.Delivery
	r := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		offered[ev.ID] = sorted(subscriptionIDs(subs))
		for _, s := range subs {
			if s.AccountID != ev.AccountID || s.State != engine.SubscriptionActive {
				t.Errorf("route offered %s (account %s, %s) for an event of %s", s.ID, s.AccountID, s.State, ev.AccountID)
			}
			if s.ID == active2.ID && (s.EntityKey != "c1" || s.Secret == "" || len(s.Events) == 0) {
				t.Errorf("route offered subscription %+v; want it whole", s)
			}
		}
		out := routeAll(base)(ev, subs)
		routed = append(routed, out...)
		return out
	}
	e1, e2, e3, e4 := newEvent(acc), newEvent(other), newEvent(acc), newEvent(quiet)
	res := h.ingest(r, e1, e2, e3, e4)

	wantAcc := sorted([]string{active1.ID, active2.ID})
	wantIDs(t, "offered for e1", offered[e1.ID], wantAcc)
	wantIDs(t, "offered for e2", offered[e2.ID], []string{otherActive.ID})
	wantIDs(t, "offered for e3", offered[e3.ID], wantAcc)
	wantIDs(t, "offered for e4", offered[e4.ID], nil)
	for i, want := range []engine.IngestResult{
		{EventID: e1.ID, Deliveries: 2}, {EventID: e2.ID, Deliveries: 1},
		{EventID: e3.ID, Deliveries: 2}, {EventID: e4.ID, Deliveries: 0},
	} {
		if res[i] != want {
			t.Errorf("result %d = %+v; want %+v", i, res[i], want)
		}
	}
	// Every routed delivery is stored as given.
	for _, d := range routed {
		wantSame(t, "stored delivery", h.delivery(d.ID), d)
	}
	all, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{})
	if err != nil || len(all) != len(routed) {
		t.Errorf("ListDeliveries = %d, %v; want the %d routed", len(all), err, len(routed))
	}
}

// testIngestRoutingByEntity: an event is offered the subscriptions for any entity and those for its
// own entity, never those limited to another entity; within one call, events of different entities
// each get their own.
func testIngestRoutingByEntity(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc, other := h.app(), h.account(), h.account()
	key := func(k string) func(*engine.Subscription) { return func(s *engine.Subscription) { s.EntityKey = k } }
	wide := h.sub(app, acc)
	docA := h.sub(app, acc, key("doc-a"))
	docA2 := h.sub(app, acc, key("doc-a"))
	docB := h.sub(app, acc, key("doc-b"))
	h.sub(app, acc, key("doc-c"))
	h.sub(app, acc, key("doc-a"), func(s *engine.Subscription) { s.State = engine.SubscriptionDisabled })
	otherDocA := h.sub(app, other, key("doc-a")) // the same key in another account

	offered := map[string][]string{}
	r := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		offered[ev.ID] = sorted(subscriptionIDs(subs))
		return routeAll(base)(ev, subs)
	}
	entity := func(id string) func(*engine.Event) {
		return func(ev *engine.Event) { ev.Entity = engine.Entity{Type: "document", ID: id} }
	}
	a1, b, a2, none := newEvent(acc, entity("doc-a")), newEvent(acc, entity("doc-b")), newEvent(acc, entity("doc-a")), newEvent(acc, entity("doc-z"))
	o := newEvent(other, entity("doc-a"))
	res := h.ingest(r, a1, b, a2, none, o)

	wantIDs(t, "offered for doc-a", offered[a1.ID], sorted([]string{wide.ID, docA.ID, docA2.ID}))
	wantIDs(t, "offered for doc-a again", offered[a2.ID], sorted([]string{wide.ID, docA.ID, docA2.ID}))
	wantIDs(t, "offered for doc-b", offered[b.ID], sorted([]string{wide.ID, docB.ID}))
	wantIDs(t, "offered for an entity nobody names", offered[none.ID], []string{wide.ID})
	wantIDs(t, "offered in the other account", offered[o.ID], []string{otherDocA.ID})
	for i, want := range []int{3, 2, 3, 1, 1} {
		if res[i].Deliveries != want {
			t.Errorf("event %d made %d deliveries; want %d", i, res[i].Deliveries, want)
		}
	}
}

func testIngestEventRoundTrip(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc)
	// Whitespace, key order, escapes and numbers beyond float64 must come back byte for byte.
	raw := "{ \"z\":1,\n\t\"a\" : [1.0e2, \"\\u00e9\\n\", \"é\"], \"big\": 123456789012345678901234567890 ,\"nil\":null}"
	prev := `{"a":[],  "z":0}`
	want := newEvent(acc, func(ev *engine.Event) {
		ev.Type, ev.Entity = "invoice.paid", engine.Entity{Type: "invoice", ID: "inv/7"}
		ev.Data, ev.PreviousData = json.RawMessage(raw), json.RawMessage(prev)
		ev.User = &engine.User{ID: "u1", Name: "Ada", Email: "ada@example.com"}
		ev.Source = &engine.EventSource{Type: engine.SourceAPI, Info: json.RawMessage(`{"apiKey":"crm-sync","n":1}`)}
		ev.IdempotencyKey = "key-1"
		ev.OccurredAt, ev.DeliverAt, ev.CreatedAt = at(-time.Hour), ptr(at(time.Hour)), base
	})
	bare := newEvent(acc) // no previous data, user, source, key or deliver_at
	h.ingest(routeTo(sub, base), want, bare)

	for _, ev := range []*engine.Event{want, bare} {
		got, err := h.s.GetEvent(h.ctx, ev.ID)
		if err != nil {
			t.Fatalf("GetEvent: %v", err)
		}
		wantSame(t, "GetEvent", got, ev)
	}
	got, _ := h.s.GetEvent(h.ctx, want.ID)
	if got != nil && !bytes.Equal(got.Data, []byte(raw)) {
		t.Errorf("data = %q; want %q byte for byte", got.Data, raw)
	}
	_, err := h.s.GetEvent(h.ctx, "evt_missing")
	wantErr(t, "GetEvent(missing)", err, engine.ErrNotFound)

	// The claimed work carries the same bytes.
	for _, w := range h.claim(base, 10) {
		if w.Event == nil {
			t.Fatalf("work %s has no event", w.Delivery.ID)
		}
		if w.Event.ID == want.ID {
			wantSame(t, "claimed event", w.Event, want)
		}
	}
}

func testIngestIdempotency(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc, other := h.app(), h.account(), h.account()
	h.sub(app, acc)
	h.sub(app, other)
	key := func(k string) func(*engine.Event) { return func(ev *engine.Event) { ev.IdempotencyKey = k } }

	first := newEvent(acc, key("k1"))
	res := h.ingest(routeAll(base), first)
	if res[0] != (engine.IngestResult{EventID: first.ID, Deliveries: 1}) {
		t.Fatalf("first = %+v", res[0])
	}

	again := newEvent(acc, key("k1"))              // across calls
	inCall1 := newEvent(acc, key("k2"))            // new
	inCall2 := newEvent(acc, key("k2"))            // within the call
	otherAcc := newEvent(other, key("k1"))         // same key, other account: not a duplicate
	noKey1, noKey2 := newEvent(acc), newEvent(acc) // no key: never duplicates
	res = h.ingest(routeAll(base), again, inCall1, inCall2, otherAcc, noKey1, noKey2)
	for i, want := range []engine.IngestResult{
		{EventID: first.ID, Duplicate: true},
		{EventID: inCall1.ID, Deliveries: 1},
		{EventID: inCall1.ID, Duplicate: true},
		{EventID: otherAcc.ID, Deliveries: 1},
		{EventID: noKey1.ID, Deliveries: 1},
		{EventID: noKey2.ID, Deliveries: 1},
	} {
		if res[i] != want {
			t.Errorf("result %d = %+v; want %+v", i, res[i], want)
		}
	}
	for _, dup := range []*engine.Event{again, inCall2} {
		_, err := h.s.GetEvent(h.ctx, dup.ID)
		wantErr(t, "GetEvent(duplicate)", err, engine.ErrNotFound)
		ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{EventID: dup.ID})
		if err != nil || len(ds) != 0 {
			t.Errorf("deliveries of a duplicate: %d, %v; want none", len(ds), err)
		}
	}
	all, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{})
	if err != nil || len(all) != 5 {
		t.Errorf("%d deliveries stored, %v; want 5", len(all), err)
	}
	// The first event is what the key keeps.
	if got, err := h.s.GetEvent(h.ctx, first.ID); err != nil || got.IdempotencyKey != "k1" {
		t.Errorf("first event: %+v, %v", got, err)
	}
}

// testIngestManyEvents stores a call of more events than one statement carries (the stores insert
// many rows to a statement, in chunks), with duplicates in several chunks, and checks each event's
// result and deliveries by position.
func testIngestManyEvents(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	h.sub(app, acc)
	h.sub(app, acc)
	key := func(k string) func(*engine.Event) { return func(ev *engine.Event) { ev.IdempotencyKey = k } }
	stored := newEvent(acc, key("stored"))
	h.ingest(routeAll(base), stored)

	const n = 77 // more than two statements of 32 rows
	events := make([]*engine.Event, n)
	for i := range events {
		events[i] = newEvent(acc, key(fmt.Sprintf("k%d", i)))
	}
	dupOf := map[int]*engine.Event{}
	for _, c := range []struct{ at, of int }{{40, -1}, {70, 3}, {76, 75}, {5, -1}} {
		if c.of < 0 {
			events[c.at].IdempotencyKey = stored.IdempotencyKey
			dupOf[c.at] = stored
		} else {
			events[c.at].IdempotencyKey = events[c.of].IdempotencyKey
			dupOf[c.at] = events[c.of]
		}
	}
	events[20].IdempotencyKey = "" // no key: never a duplicate
	res := h.ingest(routeAll(base), events...)
	if len(res) != n {
		t.Fatalf("%d results for %d events", len(res), n)
	}
	for i, ev := range events {
		want := engine.IngestResult{EventID: ev.ID, Deliveries: 2}
		if first, ok := dupOf[i]; ok {
			want = engine.IngestResult{EventID: first.ID, Duplicate: true}
		}
		if res[i] != want {
			t.Errorf("result %d = %+v; want %+v", i, res[i], want)
		}
		ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{EventID: ev.ID})
		if err != nil || len(ds) != want.Deliveries {
			t.Errorf("event %d: %d deliveries, %v; want %d", i, len(ds), err, want.Deliveries)
		}
	}
}

func testIngestDeliverAt(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	h.sub(app, acc)
	later := at(10 * time.Minute)
	// A route like the engine's: due at the event's deliver_at when that is later than now.
	r := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		due := base
		if ev.DeliverAt != nil && ev.DeliverAt.After(due) {
			due = *ev.DeliverAt
		}
		return routeAll(due)(ev, subs)
	}
	held := newEvent(acc, func(ev *engine.Event) { ev.DeliverAt = ptr(later) })
	h.ingest(r, held)
	ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{EventID: held.ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("ListDeliveries = %d, %v; want 1", len(ds), err)
	}
	wantTime(t, "NextAttemptAt", ds[0].NextAttemptAt, later)
	if ws := h.claim(later.Add(-time.Millisecond), 10); len(ws) != 0 {
		t.Errorf("claimed %v before deliver_at", workIDs(ws))
	}
	next, ok, err := h.s.NextDue(h.ctx)
	if err != nil || !ok {
		t.Fatalf("NextDue = %v, %v, %v", next, ok, err)
	}
	wantTime(t, "NextDue", next, later)
	if ws := h.claim(later, 10); len(ws) != 1 || ws[0].Delivery.ID != ds[0].ID {
		t.Errorf("claimed %v at deliver_at; want %s", workIDs(ws), ds[0].ID)
	}
}

func testIngestAtomic(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	h.sub(app, acc)
	good := newEvent(acc, func(ev *engine.Event) { ev.IdempotencyKey = "atomic" })
	clash := newEvent(acc)
	clash.ID = good.ID // the same event ID twice: the call must fail as a whole
	_, err := h.s.Ingest(h.ctx, engine.IngestParams{Events: []*engine.Event{good, clash}, Route: routeAll(base)})
	wantErr(t, "Ingest(an ID twice)", err, engine.ErrConflict)
	_, err = h.s.GetEvent(h.ctx, good.ID)
	wantErr(t, "GetEvent(from the failed call)", err, engine.ErrNotFound)
	ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{})
	if err != nil || len(ds) != 0 {
		t.Errorf("%d deliveries after a failed ingest, %v; want none", len(ds), err)
	}
	// The key was not taken by the failed call.
	retry := newEvent(acc, func(ev *engine.Event) { ev.IdempotencyKey = "atomic" })
	res := h.ingest(routeAll(base), retry)
	if res[0].Duplicate || res[0].EventID != retry.ID {
		t.Errorf("after a failed call: %+v; want a new event", res[0])
	}
}

// testIngestReadsParties checks Ingest reads the apps and accounts that IngestParams.Parties names
// once routing is done, whole, each once however often named, and leaves out IDs with no row.
func testIngestReadsParties(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app1, app2 := h.app(), h.app()
	acc, other := h.account(), h.account()
	sub1, sub2 := h.sub(app1, acc), h.sub(app2, acc)
	h.sub(app1, other)
	parties := &engine.Parties{}
	route := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		out := routeAll(base)(ev, subs)
		for _, d := range out {
			// Named as routing goes, as the ingester names those it hands over.
			parties.AppIDs = append(parties.AppIDs, d.AppID)
		}
		parties.AccountIDs = append(parties.AccountIDs, ev.AccountID)
		return out
	}
	parties.AppIDs = append(parties.AppIDs, "app_gone")
	if _, err := h.s.Ingest(h.ctx, engine.IngestParams{Events: []*engine.Event{newEvent(acc), newEvent(acc)}, Route: route, Parties: parties}); err != nil {
		t.Fatal(err)
	}
	if len(parties.Apps) != 2 || len(parties.Accounts) != 1 {
		t.Fatalf("read %d apps and %d accounts; want the 2 apps of %s and %s, and their account", len(parties.Apps), len(parties.Accounts), sub1.ID, sub2.ID)
	}
	wantSame(t, "app 1", parties.Apps[app1.ID], app1)
	wantSame(t, "app 2", parties.Apps[app2.ID], app2)
	wantSame(t, "account", parties.Accounts[acc.ID], acc)
}
