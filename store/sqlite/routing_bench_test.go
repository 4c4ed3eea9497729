package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/sqlite"
)

// BenchmarkIngestWithPerEntitySubscriptions measures ingesting one event into an account that holds
// many subscriptions limited to one entity each, as when an integrator subscribes once per document.
// One op is one Ingest call of one event, which one of those subscriptions wants.
func BenchmarkIngestWithPerEntitySubscriptions(b *testing.B) {
	for _, n := range []int{100, 10_000, 50_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Synchronous: "NORMAL"})
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
			for i := range n {
				sub := &engine.Subscription{ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "standard",
					Events: []string{"document.update"}, EntityKey: fmt.Sprintf("doc-%d", i), URL: "https://r.example/hook",
					State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
				if err := s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
					b.Fatal(err)
				}
			}
			offered := 0
			route := func(_ *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
				offered = len(subs)
				return nil
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ev := &engine.Event{ID: engine.NewID("evt"), AccountID: acc.ID, Type: "document.update",
					Entity: engine.Entity{Type: "document", ID: "doc-7"}, Data: json.RawMessage(`{}`), OccurredAt: now, CreatedAt: now}
				if _, err := s.Ingest(ctx, engine.IngestParams{Events: []*engine.Event{ev}, Route: route}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if offered != 1 {
				b.Fatalf("route was offered %d subscriptions; want the one for doc-7", offered)
			}
		})
	}
}
