package node

import (
	"context"
	"testing"

	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestStylesMigrateOnPostgres: the registry's PostgreSQL lines apply after the core's on one
// database, each to its newest version, and a second open (a restart, another node) changes
// nothing.
func TestStylesMigrateOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lines := stylePostgresMigrations()
	if len(lines) == 0 {
		t.Fatal("no style has a PostgreSQL line")
	}
	url := pgtest.NewSchema(t)
	for range 2 {
		s, err := postgres.Open(ctx, url, postgres.Options{Migrations: lines})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		for _, l := range lines {
			ms, err := l.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			var applied, newest int
			if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_versions WHERE component = $1`,
				l.Component).Scan(&applied, &newest); err != nil {
				t.Fatal(err)
			}
			if applied != len(ms) || newest != len(ms) {
				t.Errorf("%s: %d migrations applied, newest %d; want %d", l.Component, applied, newest, len(ms))
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
