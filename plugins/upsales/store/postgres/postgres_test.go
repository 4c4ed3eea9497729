package postgres_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/switchyard/switchyard/engine"
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

// TestCallbackTokensHashedOnUpgrade: a callback token stored in clear before migration 0002 is
// stored as its SHA-256 after it, and the callback URL that carried it still finds its request.
func TestCallbackTokensHashedOnUpgrade(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewSchema(t)
	first := upsalespostgres.Migrations
	only := fstest.MapFS{}
	raw, err := fs.ReadFile(first.Files, "0001_requests.sql")
	if err != nil {
		t.Fatal(err)
	}
	only["0001_requests.sql"] = &fstest.MapFile{Data: raw}
	old, err := core.Open(ctx, url, core.Options{Migrations: []migrate.Line{{Component: first.Component, Files: only}}})
	if err != nil {
		t.Fatal(err)
	}
	const clear = "HZaj8SAXDt2M6lmpolbuHI40pQtSTIetXYdH6DHbQT0" // as the last version made them
	if _, err := old.DB().ExecContext(ctx, `INSERT INTO upsales_requests (id, delivery_id, app_id, account_id, subscription_id,
		event_type, trigger_name, base_url, token, callback_expires_at, created_at, updated_at)
		VALUES ('log_1', 'dlv_1', 'app_1', 'acc_1', 'sub_1', 'client.create', 'clientinsert', 'http://127.0.0.1:1/', $1, $2, 0, 0)`,
		clear, time.Now().Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := core.Open(ctx, url, core.Options{Migrations: []migrate.Line{upsalespostgres.Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored string
	if err := db.DB().GetContext(ctx, &stored, `SELECT token FROM upsales_requests WHERE id = 'log_1'`); err != nil || stored != engine.HashToken(clear) {
		t.Fatalf("token after the upgrade %q (%v), want its SHA-256", stored, err)
	}
	applied, err := upsalespostgres.New(db).ApplyCallback(ctx, store.ApplyParams{TokenHash: engine.HashToken(clear),
		Callback: &store.Callback{Status: 1}, Now: time.Now(), NewID: func() string { return engine.NewID("ntf") }})
	if err != nil || applied.Entry.ID != "log_1" {
		t.Fatalf("the old callback URL after the upgrade: %+v, %v", applied, err)
	}
}
