package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// BenchmarkClaimPastSkipped measures a claim of 128 while one subscription the dispatcher skips
// (its gate is full) has a backlog due before the one other delivery that is due: the claim loop
// asks this whenever a busy subscription fills its gate. It costs the same whatever the skipped
// backlog (claimSkippingSQL); walking the due deliveries oldest first, it grew with it.
func BenchmarkClaimPastSkipped(b *testing.B) {
	for _, skipped := range []int{0, 1_000, 20_000} {
		b.Run(fmt.Sprint(skipped), func(b *testing.B) { benchClaimPastSkipped(b, skipped) })
	}
}

func benchClaimPastSkipped(b *testing.B, skipped int) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewSchema(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := &engine.App{ID: engine.NewID("app"), Name: "B", Secret: "secret", CreatedAt: now}
	acc := &engine.Account{ID: engine.NewID("acc"), Name: "A", CreatedAt: now}
	if err := errors.Join(s.CreateApp(ctx, app), s.CreateAccount(ctx, acc)); err != nil {
		b.Fatal(err)
	}
	subscription := func() *engine.Subscription {
		sub := &engine.Subscription{ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "standard",
			Events: []string{"*"}, URL: "https://r.example/hook", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
			b.Fatal(err)
		}
		return sub
	}
	ingest := func(n int, sub *engine.Subscription, due time.Time) {
		for done := 0; done < n; done += 500 {
			events := make([]*engine.Event, min(500, n-done))
			for i := range events {
				events[i] = &engine.Event{ID: engine.NewID("evt"), AccountID: acc.ID, Type: "client.update",
					Data: json.RawMessage(`{"id":1}`), OccurredAt: now, CreatedAt: now}
			}
			_, err := s.Ingest(ctx, engine.IngestParams{Events: events, Route: func(ev *engine.Event, _ []*engine.Subscription) []*engine.Delivery {
				return []*engine.Delivery{{ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: sub.ID, AppID: app.ID,
					Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: due, CreatedAt: now, UpdatedAt: now}}
			}})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	busy, other := subscription(), subscription()
	ingest(skipped, busy, now.Add(-time.Second))
	ingest(1, other, now)
	b.ResetTimer()
	for range b.N {
		works, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 128, Skip: []string{busy.ID}})
		if err != nil || len(works) != 1 {
			b.Fatalf("claimed %d, want 1: %v", len(works), err)
		}
		if err := s.ReleaseLeases(ctx, []string{works[0].Delivery.ID}, now); err != nil {
			b.Fatal(err)
		}
	}
}
