package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/api/compat/quicklysign"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/sqlite"
)

// TestListCallbacks: a subscription's deliveries newest first, by pages, each with its event and
// its attempts newest first, responses cut to an excerpt; another subscription's stay out.
func TestListCallbacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "qs.db"), withStyles(sqlite.Options{}))
	defer s.Close()
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

	var got []*quicklysign.Callback
	for before := ""; ; {
		page, err := s.ListCallbacks(ctx, quicklysign.CallbackQuery{SubscriptionID: mine.ID, Before: before, Limit: 2, ExcerptChars: 30})
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
	theirs, err := s.ListCallbacks(ctx, quicklysign.CallbackQuery{SubscriptionID: other.ID, Limit: 10, ExcerptChars: 30})
	if err != nil || len(theirs) != 1 || theirs[0].EntityID != "doc-b" || len(theirs[0].Attempts) != 2 {
		t.Errorf("other subscription: %v, %+v", err, theirs)
	}
	if none, err := s.ListCallbacks(ctx, quicklysign.CallbackQuery{SubscriptionID: "sub_nothing", Limit: 10}); err != nil || len(none) != 0 {
		t.Errorf("unknown subscription: %v, %d", err, len(none))
	}
}

// TestQuicklySignQueriesUseTheirIndexes: the callback log and the per-document listing read
// indexes, not whole tables.
func TestQuicklySignQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "plans.db"), withStyles(sqlite.Options{}))
	defer s.Close()
	plans, err := sqlite.QuicklySignQueryPlans(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"callback-log":            "deliveries_subscription",
		"callback-attempts":       "sqlite_autoindex_attempts_1",
		"subscriptions-by-entity": "subscriptions_app_entity",
	} {
		if plan := plans[name]; !strings.Contains(plan, want) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s plan %q does not use %s alone", name, plan, want)
		}
	}
}

// BenchmarkListCallbacks reads the newest page (50) of the callback log of a subscription with
// 10,000 deliveries of two attempts each, beside another subscription with as many.
func BenchmarkListCallbacks(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), withStyles(sqlite.Options{Synchronous: "NORMAL"}))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	acc := &engine.Account{ID: "acc", Name: "A", CreatedAt: now}
	app := &engine.App{ID: "app", Name: "B", CreatedAt: now}
	subs := []*engine.Subscription{}
	for _, id := range []string{"sub_a", "sub_b"} {
		subs = append(subs, &engine.Subscription{ID: id, AppID: app.ID, AccountID: acc.ID, Format: "quicklysign", EntityKey: "doc",
			Events: []string{"document.update"}, URL: "https://r.example/cb", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now})
	}
	if err := errors.Join(s.CreateAccount(ctx, acc), s.CreateApp(ctx, app),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: subs[0]}),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: subs[1]})); err != nil {
		b.Fatal(err)
	}
	route := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		var out []*engine.Delivery
		for _, sub := range subs {
			out = append(out, &engine.Delivery{ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: sub.ID, AppID: app.ID,
				Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now})
		}
		return out
	}
	for range 10 {
		events := make([]*engine.Event, 1000)
		for i := range events {
			events[i] = &engine.Event{ID: engine.NewID("evt"), AccountID: acc.ID, Type: "document.update",
				Entity: engine.Entity{Type: "document", ID: "doc"}, Data: json.RawMessage(`{}`), OccurredAt: now, CreatedAt: now}
		}
		if _, err := s.Ingest(ctx, engine.IngestParams{Events: events, Route: route}); err != nil {
			b.Fatal(err)
		}
	}
	for round := range 2 {
		for {
			works, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 500})
			if err != nil {
				b.Fatal(err)
			}
			if len(works) == 0 {
				break
			}
			outs := make([]*engine.Outcome, len(works))
			for i, w := range works {
				outs[i] = &engine.Outcome{SubscriptionID: w.Subscription.ID, State: engine.DeliveryPending, NextAttemptAt: now.Add(time.Hour),
					Attempt: &engine.Attempt{DeliveryID: w.Delivery.ID, StartedAt: now, ResponseStatus: 201 - round, ResponseBody: strings.Repeat("x", 2000), Outcome: "retry"}}
				if round == 1 {
					outs[i].State = engine.DeliverySucceeded
				}
			}
			if err := s.Complete(ctx, outs); err != nil {
				b.Fatal(err)
			}
		}
		now = now.Add(time.Hour)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		page, err := s.ListCallbacks(ctx, quicklysign.CallbackQuery{SubscriptionID: "sub_a", Limit: 50, ExcerptChars: 500})
		if err != nil || len(page) != 50 || len(page[0].Attempts) != 2 {
			b.Fatalf("%v, %d", err, len(page))
		}
	}
}
