package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/salesking/store"
	saleskingsqlite "github.com/switchyard/switchyard/plugins/salesking/store/sqlite"
	"github.com/switchyard/switchyard/plugins/salesking/store/storetest"
	core "github.com/switchyard/switchyard/store/sqlite"
)

// open opens the node's database at path with the style's tables, closed by the test's cleanup.
func open(t *testing.T, path string) *core.Store {
	t.Helper()
	db, err := core.Open(context.Background(), path, core.Options{Migrations: []core.MigrationLine{saleskingsqlite.Migrations}})
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
	storetest.Run(t, func(t *testing.T) store.Store {
		db := open(t, filepath.Join(t.TempDir(), "switchyard.db"))
		for _, id := range storetest.Accounts {
			if err := db.CreateAccount(context.Background(), &engine.Account{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
				t.Fatalf("CreateAccount: %v", err)
			}
		}
		return saleskingsqlite.New(db)
	})
}

// A sub-domain is in the file, not in memory: another open of the database reads it.
func TestSubDomainIsKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "switchyard.db")
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	db, err := core.Open(ctx, path, core.Options{Migrations: []core.MigrationLine{saleskingsqlite.Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAccount(ctx, &engine.Account{ID: "acc_1", Name: "Acme", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := saleskingsqlite.New(db).SetSubDomain(ctx, "acc_1", "acme-gmbh", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sub, updated, err := saleskingsqlite.New(open(t, path)).SubDomain(ctx, "acc_1")
	if err != nil || sub != "acme-gmbh" || !updated.Equal(at.Add(time.Hour)) {
		t.Errorf("got %q %v %v, want acme-gmbh at %v", sub, updated, err, at.Add(time.Hour))
	}
}
