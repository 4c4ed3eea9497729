package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/sqlite"
)

// BenchmarkPipeline measures the store's share of delivery: ingest events in batches of 500 (one
// delivery each, over 20 subscriptions of one account), claim them 128 at a time, and record one
// successful attempt each, 512 outcomes per Complete. One op is one delivery.
func BenchmarkPipeline(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) { benchPipeline(b, sync) })
	}
}

func benchPipeline(b *testing.B, sync string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	acc := &engine.Account{ID: engine.NewID("acc"), Name: "A", CreatedAt: now}
	app := &engine.App{ID: engine.NewID("app"), Name: "B", Secret: "secret", CreatedAt: now}
	if err := s.CreateAccount(ctx, acc); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateApp(ctx, app); err != nil {
		b.Fatal(err)
	}
	for range 20 {
		sub := &engine.Subscription{ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "standard",
			Events: []string{"client.*"}, URL: "https://r.example/hook", Secret: "whsec_x",
			Options: map[string]string{"a": "b"}, State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
			b.Fatal(err)
		}
	}
	data := json.RawMessage(`{"id":"c_123","name":"Ada Lovelace","email":"ada@example.com","tags":["a","b"],"balance":1234.5}`)
	n := 0
	route := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		sub := subs[n%len(subs)]
		n++
		return []*engine.Delivery{{ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: sub.ID, AppID: sub.AppID,
			Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
	}

	b.ResetTimer()
	for done := 0; done < b.N; {
		batch := min(500, b.N-done)
		events := make([]*engine.Event, batch)
		for i := range events {
			events[i] = &engine.Event{ID: engine.NewID("evt"), AccountID: acc.ID, Type: "client.update",
				Entity: engine.Entity{Type: "client", ID: "c_123"}, Data: data, IdempotencyKey: engine.NewID("k"),
				OccurredAt: now, CreatedAt: now}
		}
		if _, err := s.Ingest(ctx, engine.IngestParams{Events: events, Route: route}); err != nil {
			b.Fatal(err)
		}
		var outs []*engine.Outcome
		for {
			ws, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 128})
			if err != nil {
				b.Fatal(err)
			}
			if len(ws) == 0 {
				break
			}
			for _, w := range ws {
				outs = append(outs, &engine.Outcome{State: engine.DeliverySucceeded, SubscriptionID: w.Subscription.ID, Healthy: true,
					Attempt: &engine.Attempt{DeliveryID: w.Delivery.ID, StartedAt: now, DurationMS: 12, RequestMethod: "POST",
						RequestURL: w.Subscription.URL, RequestBody: string(w.Event.Data), ResponseStatus: 200,
						RequestHeaders:  []engine.HeaderLine{{Name: "Content-Type", Value: "application/json"}, {Name: "Webhook-Id", Value: w.Delivery.ID}},
						ResponseHeaders: []engine.HeaderLine{{Name: "Content-Length", Value: "0"}}, Outcome: "success"}})
			}
		}
		for len(outs) > 0 {
			k := min(512, len(outs))
			if err := s.Complete(ctx, outs[:k]); err != nil {
				b.Fatal(err)
			}
			outs = outs[k:]
		}
		done += batch
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
