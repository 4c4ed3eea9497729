package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/altoviz/store"
	"github.com/switchyard/switchyard/plugins/altoviz/store/sqlite"
	"github.com/switchyard/switchyard/plugins/altoviz/store/storetest"
	core "github.com/switchyard/switchyard/store/sqlite"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (engine.Store, store.Store) {
		db, err := core.Open(context.Background(), filepath.Join(t.TempDir(), "switchyard.db"),
			core.Options{Synchronous: "normal", Migrations: []core.MigrationLine{sqlite.Migrations}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return db, sqlite.New(db)
	})
}
