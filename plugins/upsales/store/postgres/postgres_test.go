package postgres_test

import (
	"context"
	"testing"

	"github.com/switchyard/switchyard/plugins/upsales/store"
	upsalespostgres "github.com/switchyard/switchyard/plugins/upsales/store/postgres"
	"github.com/switchyard/switchyard/plugins/upsales/store/storetest"
	"github.com/switchyard/switchyard/store/migrate"
	core "github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestMain starts one throwaway PostgreSQL cluster for the package's tests, and stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStore runs the style's contract suite on PostgreSQL, each test in a schema of its own with
// the core's tables and this style's only: the style's store must need nothing of another style.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := core.Open(context.Background(), pgtest.NewSchema(t), core.Options{Migrations: []migrate.Line{upsalespostgres.Migrations}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return upsalespostgres.New(db)
	})
}
