package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/quicklysign/store"
	"github.com/switchyard/switchyard/plugins/quicklysign/store/postgres"
	"github.com/switchyard/switchyard/plugins/quicklysign/store/storetest"
	"github.com/switchyard/switchyard/store/migrate"
	core "github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestMain starts one throwaway PostgreSQL cluster for the package's tests, and stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStore runs the style's contract suite on PostgreSQL, each test in a schema of its own with
// the core's tables and the style's.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, engine.Store) {
		db, err := core.Open(context.Background(), pgtest.NewSchema(t), core.Options{Migrations: []migrate.Line{postgres.Migrations}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return postgres.New(db), db
	})
}

// TestQuicklySignQueriesUseTheirIndexes: an index serves the callback log, its attempts, the kept
// logs and the per-document listing; the pages come in index order, without a sort. The attempts of
// a page are found by the primary key for all its deliveries at once (= ANY), which PostgreSQL 15
// sorts afterwards: a sort of one page's attempts, not of the table.
func TestQuicklySignQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	db, err := core.Open(context.Background(), pgtest.NewSchema(t), core.Options{Migrations: []migrate.Line{postgres.Migrations}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	plans, err := postgres.QueryPlans(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"callback-log":            "deliveries_subscription",
		"callback-attempts":       "attempts_pkey",
		"kept-log":                "quicklysign_deleted_deliveries_subscription",
		"kept-attempts":           "quicklysign_deleted_attempts_pkey",
		"subscriptions-by-entity": "subscriptions_app_entity",
	} {
		plan := plans[name]
		sorted := strings.Contains(plan, "Sort") && !strings.HasSuffix(name, "-attempts")
		if !strings.Contains(plan, want) || sorted || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s plan %q does not use %s alone", name, plan, want)
		}
	}
}
