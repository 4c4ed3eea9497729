package sqlite_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
)

// BenchmarkIngestIndexes measures an ingest of 100 events of 1 KB, each with one pending delivery
// to one subscription, as the load generator's 16 x 20 run stores most of its burst: with every
// index, and without each index that 3ceddb0 (issue 16's reference) did not have. One op is one
// event. It prices what those indexes cost each stored event; nothing here drops them for real.
func BenchmarkIngestIndexes(b *testing.B) {
	for _, c := range []struct{ name, drop string }{
		{"all", ""},
		{"without-events_account", "DROP INDEX events_account"},
		{"without-deliveries_pending", "DROP INDEX deliveries_pending"},
		{"without-deliveries_ordering", "DROP INDEX deliveries_ordering"},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newClaimFixture(b)
			if c.drop != "" {
				if err := f.s.Write(f.ctx, func(tx *sqlx.Tx) error { _, err := tx.Exec(c.drop); return err }); err != nil {
					b.Fatal(err)
				}
			}
			sub := f.subscription(engine.OrderingNone)
			data := json.RawMessage(`[` + strings.Repeat(`{"id":"c_123","name":"Ada Lovelace","email":"ada@example.com"},`, 15) + `{}]`)
			route := func(ev *engine.Event, _ []*engine.Subscription) []*engine.Delivery {
				return []*engine.Delivery{{ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: sub.ID, AppID: f.app.ID,
					Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: f.now, CreatedAt: f.now, UpdatedAt: f.now}}
			}
			b.ResetTimer()
			for done := 0; done < b.N; done += 100 {
				events := make([]*engine.Event, min(100, b.N-done))
				for i := range events {
					events[i] = &engine.Event{ID: engine.NewID("evt"), AccountID: f.acc.ID, Type: "client.update",
						Entity: engine.Entity{Type: "client", ID: "c_123"}, Data: data, IdempotencyKey: engine.NewID("k"),
						OccurredAt: f.now, CreatedAt: f.now}
				}
				if _, err := f.s.Ingest(f.ctx, engine.IngestParams{Events: events, Route: route}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
