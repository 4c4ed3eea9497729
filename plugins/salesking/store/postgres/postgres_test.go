package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/salesking/store"
	saleskingpg "github.com/switchyard/switchyard/plugins/salesking/store/postgres"
	"github.com/switchyard/switchyard/plugins/salesking/store/storetest"
	"github.com/switchyard/switchyard/store/migrate"
	core "github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestMain starts one throwaway PostgreSQL cluster for the package's tests and stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens the database at url with the style's tables, closed by the test's cleanup.
func open(t *testing.T, url string) *core.Store {
	t.Helper()
	db, err := core.Open(context.Background(), url, core.Options{Migrations: []migrate.Line{saleskingpg.Migrations}})
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
		db := open(t, pgtest.NewSchema(t))
		for _, id := range storetest.Accounts {
			if err := db.CreateAccount(context.Background(), &engine.Account{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
				t.Fatalf("CreateAccount: %v", err)
			}
		}
		return saleskingpg.New(db)
	})
}

// A sub-domain is in the database, not in one process: another pool on it (another node) reads
// it, and opening again runs no migration twice.
func TestSubDomainIsShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewSchema(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a := open(t, url)
	if err := a.CreateAccount(ctx, &engine.Account{ID: "acc_1", Name: "Acme", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := saleskingpg.New(a).SetSubDomain(ctx, "acc_1", "acme-gmbh", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sub, updated, err := saleskingpg.New(open(t, url)).SubDomain(ctx, "acc_1")
	if err != nil || sub != "acme-gmbh" || !updated.Equal(at.Add(time.Hour)) {
		t.Errorf("got %q %v %v, want acme-gmbh at %v", sub, updated, err, at.Add(time.Hour))
	}
}
