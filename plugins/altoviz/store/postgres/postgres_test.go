package postgres_test

import (
	"context"
	"testing"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/altoviz/store"
	"github.com/switchyard/switchyard/plugins/altoviz/store/postgres"
	"github.com/switchyard/switchyard/plugins/altoviz/store/storetest"
	"github.com/switchyard/switchyard/store/migrate"
	core "github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestMain starts one throwaway PostgreSQL cluster for the package's tests and stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (engine.Store, store.Store) {
		db, err := core.Open(context.Background(), pgtest.NewSchema(t), core.Options{Migrations: []migrate.Line{postgres.Migrations}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return db, postgres.New(db)
	})
}
