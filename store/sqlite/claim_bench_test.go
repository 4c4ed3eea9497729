package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/sqlite"
)

// BenchmarkClaimBacklog measures one claim of 128 deliveries out of a backlog of due deliveries
// spread over 100 subscriptions of 10 accounts: the cost a dispatcher pays per batch while a large
// backlog drains. Each op claims a batch and gives it back, so the backlog stays the same size.
func BenchmarkClaimBacklog(b *testing.B) {
	for _, backlog := range []int{1_000, 20_000} {
		b.Run(fmt.Sprint(backlog), func(b *testing.B) { benchClaimBacklog(b, backlog) })
	}
}

func benchClaimBacklog(b *testing.B, backlog int) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := &engine.App{ID: engine.NewID("app"), Name: "B", Secret: "secret", CreatedAt: now}
	if err := s.CreateApp(ctx, app); err != nil {
		b.Fatal(err)
	}
	subsOf := map[string][]*engine.Subscription{}
	var accounts []*engine.Account
	for a := range 10 {
		acc := &engine.Account{ID: engine.NewID("acc"), Name: fmt.Sprint("A", a), CreatedAt: now}
		if err := s.CreateAccount(ctx, acc); err != nil {
			b.Fatal(err)
		}
		accounts = append(accounts, acc)
		for range 10 {
			sub := &engine.Subscription{ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "standard",
				Events: []string{"*"}, URL: "https://r.example/hook", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
			if err := s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
				b.Fatal(err)
			}
			subsOf[acc.ID] = append(subsOf[acc.ID], sub)
		}
	}
	n := 0
	route := func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		sub := subs[n%len(subs)]
		n++
		return []*engine.Delivery{{ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: sub.ID, AppID: sub.AppID,
			Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
	}
	for done := 0; done < backlog; done += 500 {
		events := make([]*engine.Event, 500)
		for i := range events {
			acc := accounts[(done+i)%len(accounts)]
			events[i] = &engine.Event{ID: engine.NewID("evt"), AccountID: acc.ID, Type: "client.update",
				Data: json.RawMessage(`{"id":1}`), OccurredAt: now, CreatedAt: now}
		}
		if _, err := s.Ingest(ctx, engine.IngestParams{Events: events, Route: route}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		works, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 128})
		if err != nil || len(works) == 0 {
			b.Fatalf("claimed %d: %v", len(works), err)
		}
		ids := make([]string, len(works))
		for i, w := range works {
			ids[i] = w.Delivery.ID
		}
		if err := s.ReleaseLeases(ctx, ids, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimPastHeld measures one claim of 128 unordered deliveries while an ordered queue
// holds a backlog due before them, behind a head in flight: every claim passes over the held
// deliveries (two index seeks each) before it reaches claimable work.
func BenchmarkClaimPastHeld(b *testing.B) {
	for _, held := range []int{0, 1_000, 20_000} {
		b.Run(fmt.Sprint(held), func(b *testing.B) { benchClaimPastHeld(b, held) })
	}
}

func benchClaimPastHeld(b *testing.B, held int) {
	f := newClaimFixture(b)
	orderedSub := f.subscription(engine.OrderingEntity)
	plainSub := f.subscription(engine.OrderingNone)
	if held > 0 {
		f.ingest(held+1, orderedSub, f.now.Add(-time.Second), "client:hot")
		if ws, err := f.s.ClaimDue(f.ctx, engine.ClaimParams{Now: f.now, LeaseUntil: f.now.Add(time.Hour), Limit: 1}); err != nil || len(ws) != 1 {
			b.Fatalf("claiming the head: %d, %v", len(ws), err)
		}
	}
	f.ingest(1_000, plainSub, f.now, "")
	b.ResetTimer()
	for range b.N {
		f.claimAndGiveBack(engine.ClaimParams{Limit: 128}, 128)
	}
}

// claimFixture is a store with one app and one account, for the claim benchmarks.
type claimFixture struct {
	b   *testing.B
	ctx context.Context
	s   *sqlite.Store
	now time.Time
	app *engine.App
	acc *engine.Account
}

func newClaimFixture(b *testing.B) *claimFixture {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	f := &claimFixture{b: b, ctx: ctx, s: s, now: now,
		app: &engine.App{ID: engine.NewID("app"), Name: "B", Secret: "secret", CreatedAt: now},
		acc: &engine.Account{ID: engine.NewID("acc"), Name: "A", CreatedAt: now}}
	if err := errors.Join(s.CreateApp(ctx, f.app), s.CreateAccount(ctx, f.acc)); err != nil {
		b.Fatal(err)
	}
	return f
}

func (f *claimFixture) subscription(ordering engine.Ordering) *engine.Subscription {
	sub := &engine.Subscription{ID: engine.NewID("sub"), AppID: f.app.ID, AccountID: f.acc.ID, Format: "standard",
		Events: []string{"*"}, URL: "https://r.example/hook", State: engine.SubscriptionActive, CreatedAt: f.now, UpdatedAt: f.now,
		Ordering: ordering}
	if err := f.s.CreateSubscription(f.ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
		f.b.Fatal(err)
	}
	return sub
}

// ingest makes n deliveries of sub due at due, in queue key when key is set.
func (f *claimFixture) ingest(n int, sub *engine.Subscription, due time.Time, key string) {
	for done := 0; done < n; done += 500 {
		events := make([]*engine.Event, min(500, n-done))
		for i := range events {
			events[i] = &engine.Event{ID: engine.NewID("evt"), AccountID: f.acc.ID, Type: "client.update",
				Entity: engine.Entity{Type: "client", ID: "hot"}, Data: json.RawMessage(`{"id":1}`), OccurredAt: f.now, CreatedAt: f.now}
		}
		_, err := f.s.Ingest(f.ctx, engine.IngestParams{Events: events, Route: func(ev *engine.Event, _ []*engine.Subscription) []*engine.Delivery {
			return []*engine.Delivery{{ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: sub.ID, AppID: f.app.ID,
				Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: due, CreatedAt: f.now, UpdatedAt: f.now, OrderingKey: key}}
		}})
		if err != nil {
			f.b.Fatal(err)
		}
	}
}

// claimAndGiveBack claims, wants exactly want deliveries, and gives them back so that the next
// claim finds the same.
func (f *claimFixture) claimAndGiveBack(p engine.ClaimParams, want int) {
	p.Now, p.LeaseUntil = f.now, f.now.Add(time.Minute)
	works, err := f.s.ClaimDue(f.ctx, p)
	if err != nil || len(works) != want {
		f.b.Fatalf("claimed %d, want %d: %v", len(works), want, err)
	}
	ids := make([]string, len(works))
	for i, w := range works {
		ids[i] = w.Delivery.ID
	}
	if err := f.s.ReleaseLeases(f.ctx, ids, f.now); err != nil {
		f.b.Fatal(err)
	}
}

// BenchmarkClaimPastSkipped measures a claim of 128 while one subscription the dispatcher skips
// (its cap is full) has a backlog due before the one other delivery that is due: the claim loop
// asks this whenever a single busy subscription fills its cap.
func BenchmarkClaimPastSkipped(b *testing.B) {
	for _, skipped := range []int{0, 1_000, 20_000} {
		b.Run(fmt.Sprint(skipped), func(b *testing.B) { benchClaimPastSkipped(b, skipped) })
	}
}

func benchClaimPastSkipped(b *testing.B, skipped int) {
	f := newClaimFixture(b)
	busy, other := f.subscription(engine.OrderingNone), f.subscription(engine.OrderingNone)
	f.ingest(skipped, busy, f.now.Add(-time.Second), "")
	f.ingest(1, other, f.now, "")
	b.ResetTimer()
	for range b.N {
		f.claimAndGiveBack(engine.ClaimParams{Limit: 128, Skip: []string{busy.ID}}, 1)
	}
}
