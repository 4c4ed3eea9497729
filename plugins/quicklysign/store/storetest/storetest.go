// Package storetest is the behaviour every driver of the QuicklySign style's store.Store must
// have. The callback log is read from the engine's deliveries, events and attempts, so the suite
// writes those through the engine's store on the same database.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/quicklysign/store"
)

// Open returns a new, empty, migrated database (the engine's tables and the style's) as the
// style's store and the engine's store on it, and closes it when t ends (t.Cleanup).
type Open func(t *testing.T) (store.Store, engine.Store)

// Run runs the suite; each test opens a database of its own, so tests run in parallel.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"ListCallbacks", testListCallbacks},
		{"KeptLogOfDeletedSubscriptions", testKeptLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// testListCallbacks: a subscription's deliveries newest first, by pages, each with its event and
// its attempts newest first, responses cut to an excerpt; another subscription's stay out.
func testListCallbacks(t *testing.T, open Open) {
	t.Parallel()
	ctx := context.Background()
	qs, s := open(t)
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	acc := &engine.Account{ID: "acc", Name: "A", CreatedAt: base}
	app := &engine.App{ID: "app", Name: "B", CreatedAt: base}
	newSub := func(id, entity string) *engine.Subscription {
		return &engine.Subscription{ID: id, AppID: app.ID, AccountID: acc.ID, Format: "quicklysign", EntityKey: entity,
			Events: []string{"document.update", "document.finalize"}, URL: "https://r.example/cb", State: engine.SubscriptionActive,
			CreatedAt: base, UpdatedAt: base}
	}
	mine, other := newSub("sub_mine", "doc-a"), newSub("sub_other", "doc-b")
	for _, err := range []error{
		s.CreateAccount(ctx, acc), s.CreateApp(ctx, app),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: mine}),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: other}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Five events for doc-a and one for doc-b, each routed to the subscriptions it wants.
	var events []*engine.Event
	for i, typ := range []string{"document.update", "document.finalize", "document.update", "document.update", "document.finalize"} {
		events = append(events, &engine.Event{ID: fmt.Sprintf("evt_%d", i), AccountID: acc.ID, Type: typ,
			Entity: engine.Entity{Type: "document", ID: "doc-a"}, Data: json.RawMessage(`{}`), OccurredAt: base, CreatedAt: base})
	}
	events = append(events, &engine.Event{ID: "evt_b", AccountID: acc.ID, Type: "document.update",
		Entity: engine.Entity{Type: "document", ID: "doc-b"}, Data: json.RawMessage(`{}`), OccurredAt: base, CreatedAt: base})
	n := 0
	route := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		var out []*engine.Delivery
		for _, sub := range subs {
			if sub.EntityKey == ev.Entity.ID {
				n++
				out = append(out, &engine.Delivery{ID: fmt.Sprintf("dlv_%02d", n), EventID: ev.ID, SubscriptionID: sub.ID, AppID: app.ID,
					Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: base, CreatedAt: base, UpdatedAt: base})
			}
		}
		return out
	}
	if _, err := s.Ingest(ctx, engine.IngestParams{Events: events, Route: route}); err != nil {
		t.Fatal(err)
	}
	// Each delivery of doc-a is answered 201 (retry), then 200 with a long body.
	long := strings.Repeat("é", 40)
	for round, status := range []int{201, 200} {
		now := base.Add(time.Duration(round) * time.Minute)
		works, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var outs []*engine.Outcome
		for _, w := range works {
			o := &engine.Outcome{SubscriptionID: w.Subscription.ID, State: engine.DeliveryPending, NextAttemptAt: now.Add(time.Minute),
				Attempt: &engine.Attempt{DeliveryID: w.Delivery.ID, StartedAt: now, DurationMS: 12, RequestMethod: "POST",
					RequestBody: `{"request":"not in the log"}`, ResponseStatus: status, ResponseBody: "created", Outcome: "retry",
					Error: "the receiver answered 201"}}
			if status == 200 {
				o.State, o.Healthy = engine.DeliverySucceeded, true
				o.Attempt.ResponseBody, o.Attempt.Outcome, o.Attempt.Error = long, "success", ""
			}
			outs = append(outs, o)
		}
		if err := s.Complete(ctx, outs); err != nil {
			t.Fatal(err)
		}
	}

	var got []*store.Callback
	for before := ""; ; {
		page, err := qs.ListCallbacks(ctx, store.CallbackQuery{SubscriptionID: mine.ID, Before: before, Limit: 2, ExcerptChars: 30})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d", len(page))
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1].Delivery.ID
	}
	wantIDs := []string{"dlv_05", "dlv_04", "dlv_03", "dlv_02", "dlv_01"}
	wantTypes := []string{"document.finalize", "document.update", "document.update", "document.finalize", "document.update"}
	if len(got) != len(wantIDs) {
		t.Fatalf("%d callbacks; want %d", len(got), len(wantIDs))
	}
	for i, cb := range got {
		d := cb.Delivery
		if d.ID != wantIDs[i] || cb.EventType != wantTypes[i] || cb.EntityID != "doc-a" || d.SubscriptionID != mine.ID ||
			d.State != engine.DeliverySucceeded || d.Attempts != 2 || !d.CreatedAt.Equal(base) {
			t.Errorf("callback %d: %+v %s %s", i, d, cb.EventType, cb.EntityID)
		}
		if len(cb.Attempts) != 2 {
			t.Errorf("callback %d: %d attempts", i, len(cb.Attempts))
			continue
		}
		newest, first := cb.Attempts[0], cb.Attempts[1]
		if newest.Number != 2 || newest.ResponseStatus != 200 || newest.Outcome != "success" || newest.ResponseBody != strings.Repeat("é", 30)+"…" ||
			!newest.StartedAt.Equal(base.Add(time.Minute)) || newest.DurationMS != 12 || newest.RequestBody != "" {
			t.Errorf("callback %d newest attempt: %+v", i, newest)
		}
		if first.Number != 1 || first.ResponseStatus != 201 || first.ResponseBody != "created" || first.Error != "the receiver answered 201" ||
			!first.StartedAt.Equal(base) {
			t.Errorf("callback %d first attempt: %+v", i, first)
		}
	}
	// The other subscription's one delivery is listed under it alone.
	theirs, err := qs.ListCallbacks(ctx, store.CallbackQuery{SubscriptionID: other.ID, Limit: 10, ExcerptChars: 30})
	if err != nil || len(theirs) != 1 || theirs[0].EntityID != "doc-b" || len(theirs[0].Attempts) != 2 {
		t.Errorf("other subscription: %v, %+v", err, theirs)
	}
	if none, err := qs.ListCallbacks(ctx, store.CallbackQuery{SubscriptionID: "sub_nothing", Limit: 10}); err != nil || len(none) != 0 {
		t.Errorf("unknown subscription: %v, %d", err, len(none))
	}
}

// testKeptLog: deleting a QuicklySign subscription, through the engine's store as any API does,
// keeps its log with its API version; a pending delivery is kept as cancelled; other formats keep
// nothing; PurgeDeleted removes the kept attempts, then the deliveries and the subscription.
func testKeptLog(t *testing.T, open Open) {
	t.Parallel()
	ctx := context.Background()
	qs, s := open(t)
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	acc := &engine.Account{ID: "acc", Name: "A", CreatedAt: base}
	app := &engine.App{ID: "app", Name: "B", CreatedAt: base}
	newSub := func(id, format string, options map[string]string) *engine.Subscription {
		return &engine.Subscription{ID: id, AppID: app.ID, AccountID: acc.ID, Format: format, EntityKey: "doc", Options: options,
			Events: []string{"document.update"}, URL: "https://r.example/" + id, State: engine.SubscriptionActive,
			CreatedAt: base, UpdatedAt: base}
	}
	hook, legacy, std := newSub("sub_hook", "quicklysign", map[string]string{"api": "v1"}), newSub("sub_legacy", "quicklysign", nil), newSub("sub_std", "standard", nil)
	for _, err := range []error{
		s.CreateAccount(ctx, acc), s.CreateApp(ctx, app),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: hook}),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: legacy}),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: std}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	route := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		var out []*engine.Delivery
		for _, sub := range subs {
			n++
			out = append(out, &engine.Delivery{ID: fmt.Sprintf("dlv_%02d", n), EventID: ev.ID, SubscriptionID: sub.ID, AppID: app.ID,
				Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: base, CreatedAt: base, UpdatedAt: base})
		}
		return out
	}
	ev := &engine.Event{ID: "evt_1", AccountID: acc.ID, Type: "document.update", Entity: engine.Entity{Type: "document", ID: "doc"},
		Data: json.RawMessage(`{}`), OccurredAt: base, CreatedAt: base}
	if _, err := s.Ingest(ctx, engine.IngestParams{Events: []*engine.Event{ev}, Route: route}); err != nil {
		t.Fatal(err)
	}
	// Two attempts each, a minute apart: the webhook's succeeds; the others' are left pending.
	for round := range 2 {
		now := base.Add(time.Duration(round) * time.Minute)
		works, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var outs []*engine.Outcome
		for _, w := range works {
			o := &engine.Outcome{SubscriptionID: w.Subscription.ID, State: engine.DeliveryPending, NextAttemptAt: now.Add(time.Minute),
				Attempt: &engine.Attempt{DeliveryID: w.Delivery.ID, StartedAt: now, ResponseStatus: 500, ResponseBody: "down", Outcome: "retry"}}
			if round == 1 && w.Subscription.ID == hook.ID {
				o.State, o.Healthy, o.Attempt.ResponseStatus, o.Attempt.ResponseBody, o.Attempt.Outcome = engine.DeliverySucceeded, true, 200, "ok", "success"
			}
			outs = append(outs, o)
		}
		if err := s.Complete(ctx, outs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := qs.DeletedSubscription(ctx, hook.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("a live subscription is kept as deleted: %v", err)
	}
	for _, id := range []string{hook.ID, legacy.ID, std.ID} {
		if err := s.DeleteSubscription(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for id, api := range map[string]string{hook.ID: "v1", legacy.ID: "v0"} {
		gone, err := qs.DeletedSubscription(ctx, id)
		if err != nil || gone.API != api || gone.AppID != app.ID || gone.AccountID != acc.ID || gone.EntityKey != "doc" || !gone.CreatedAt.Equal(base) {
			t.Errorf("%s kept as %+v, %v; want API %s", id, gone, err, api)
		}
	}
	if _, err := qs.DeletedSubscription(ctx, std.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("another format's subscription was kept: %v", err)
	}
	kept := func(id string) []*store.Callback {
		t.Helper()
		log, err := qs.ListCallbacks(ctx, store.CallbackQuery{SubscriptionID: id, Deleted: true, Limit: 10, ExcerptChars: 100})
		if err != nil {
			t.Fatal(err)
		}
		return log
	}
	if log := kept(hook.ID); len(log) != 1 || log[0].Delivery.State != engine.DeliverySucceeded || log[0].EventType != "document.update" ||
		log[0].EntityID != "doc" || len(log[0].Attempts) != 2 || log[0].Attempts[0].ResponseStatus != 200 || log[0].Attempts[1].ResponseBody != "down" {
		t.Errorf("kept log of the webhook: %+v", log)
	}
	if log := kept(legacy.ID); len(log) != 1 || log[0].Delivery.State != store.CancelledState || len(log[0].Attempts) != 2 {
		t.Errorf("kept log of the subscription deleted while retrying: %+v", log)
	}
	// The first attempts are past the retention; the second ones are not.
	if _, err := qs.PurgeDeleted(ctx, base.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if log := kept(hook.ID); len(log) != 1 || len(log[0].Attempts) != 1 || log[0].Attempts[0].Number != 2 {
		t.Errorf("after purging the first attempts: %+v", log)
	}
	// Everything is past it.
	if _, err := qs.PurgeDeleted(ctx, time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{hook.ID, legacy.ID} {
		if log := kept(id); len(log) != 0 {
			t.Errorf("%s: %d callbacks left after the retention", id, len(log))
		}
		if _, err := qs.DeletedSubscription(ctx, id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("%s still kept after the retention: %v", id, err)
		}
	}
}
