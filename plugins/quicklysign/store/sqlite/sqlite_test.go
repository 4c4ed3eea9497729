package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/quicklysign/store"
	"github.com/switchyard/switchyard/plugins/quicklysign/store/sqlite"
	"github.com/switchyard/switchyard/plugins/quicklysign/store/storetest"
	core "github.com/switchyard/switchyard/store/sqlite"
)

// open opens a new database file in t's temporary folder, with the core's tables and the style's.
func open(t *testing.T) *core.Store {
	t.Helper()
	db, err := core.Open(context.Background(), filepath.Join(t.TempDir(), "switchyard.db"), core.Options{Migrations: []core.MigrationLine{sqlite.Migrations}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, engine.Store) {
		db := open(t)
		return sqlite.New(db), db
	})
}

// TestQuicklySignQueriesUseTheirIndexes: the callback log and the per-document listing read
// indexes, not whole tables.
func TestQuicklySignQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	plans, err := sqlite.QueryPlans(context.Background(), open(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"callback-log":            "deliveries_subscription",
		"callback-attempts":       "sqlite_autoindex_attempts_1",
		"kept-log":                "quicklysign_deleted_deliveries_subscription",
		"kept-attempts":           "sqlite_autoindex_quicklysign_deleted_attempts_1",
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
	s, err := core.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), core.Options{Synchronous: "NORMAL", Migrations: []core.MigrationLine{sqlite.Migrations}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	qs := sqlite.New(s)
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
		page, err := qs.ListCallbacks(ctx, store.CallbackQuery{SubscriptionID: "sub_a", Limit: 50, ExcerptChars: 500})
		if err != nil || len(page) != 50 || len(page[0].Attempts) != 2 {
			b.Fatalf("%v, %d", err, len(page))
		}
	}
}
