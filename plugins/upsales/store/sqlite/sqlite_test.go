package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/upsales/store"
	upsalessqlite "github.com/switchyard/switchyard/plugins/upsales/store/sqlite"
	"github.com/switchyard/switchyard/plugins/upsales/store/storetest"
	core "github.com/switchyard/switchyard/store/sqlite"
)

// open opens a database file of the test's own with the core's tables and this style's only: the
// style's store must need nothing of another style.
func open(tb testing.TB, synchronous string) store.Store {
	tb.Helper()
	db, err := core.Open(context.Background(), filepath.Join(tb.TempDir(), "switchyard.db"),
		core.Options{Synchronous: synchronous, Migrations: []core.MigrationLine{upsalessqlite.Migrations}})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return upsalessqlite.New(db)
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, "NORMAL")
	})
}

// BenchmarkPrepareRequest is what the Upsales style adds to each delivery: one write transaction
// recording the request (or reopening its callback) and reading the app data.
func BenchmarkPrepareRequest(b *testing.B) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			s := open(b, sync)
			ctx := context.Background()
			user := &engine.User{ID: "7", Name: "Ann"}
			b.ResetTimer()
			for i := range b.N {
				d := fmt.Sprintf("dlv_%d", i)
				e := &store.LogEntry{
					ID: engine.NewID("log"), DeliveryID: d, AppID: "app_1", AccountID: "acc_1", SubscriptionID: "sub_1",
					EventID: "evt_" + d, EventType: "client.create", Trigger: "clientinsert", EntityID: "42", UserID: "7",
					BaseURL: "http://127.0.0.1:1/app", UserConfigurable: true, TokenHash: "tok_" + d,
				}
				if _, err := s.PrepareRequest(ctx, store.PrepareParams{Entry: e, ExpiresAt: t0.Add(time.Hour), User: user, Now: t0}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
