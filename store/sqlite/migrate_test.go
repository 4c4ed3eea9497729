package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/switchyard/switchyard/store/sqlite"
)

func line(component string, legacy map[int]int, files ...string) sqlite.MigrationLine {
	fs := fstest.MapFS{}
	for i, sql := range files {
		fs[[]string{"0001_a.sql", "0002_b.sql", "0003_c.sql"}[i]] = &fstest.MapFile{Data: []byte(sql)}
	}
	return sqlite.MigrationLine{Component: component, Files: fs, Legacy: legacy}
}

// TestMigrationLines: each component's line runs once, in order, after the core's; a later
// version of a line runs on a database that has the earlier ones; and a database whose line is
// newer than the build is refused rather than written to.
func TestMigrationLines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lines.db")
	widgets := line("widgets", nil, `CREATE TABLE widgets (id TEXT PRIMARY KEY)`)
	s := open(t, path, sqlite.Options{Migrations: []sqlite.MigrationLine{widgets}})
	if _, err := s.Reader().ExecContext(ctx, `SELECT id FROM widgets`); err != nil {
		t.Fatalf("the line's table: %v", err)
	}
	s.Close()

	// A new build adds a migration to the line: only that one runs.
	widgets2 := line("widgets", nil, `CREATE TABLE widgets (id TEXT PRIMARY KEY)`, `ALTER TABLE widgets ADD COLUMN size INTEGER NOT NULL DEFAULT 0`)
	s = open(t, path, sqlite.Options{Migrations: []sqlite.MigrationLine{widgets2}})
	if got, err := sqlite.AppliedMigrations(ctx, s, "widgets"); err != nil || len(got) != 2 {
		t.Fatalf("widgets applied %v (%v), want [1 2]", got, err)
	}
	s.Close()

	// The older build opening the newer database refuses it.
	_, err := sqlite.Open(ctx, path, sqlite.Options{Migrations: []sqlite.MigrationLine{widgets}})
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("an older build opened a newer database: %v", err)
	}

	// A line with a gap in its numbers is refused: a migration was merged out of order.
	gap := sqlite.MigrationLine{Component: "gappy", Files: fstest.MapFS{"0002_b.sql": &fstest.MapFile{Data: []byte(`SELECT 1`)}}}
	if _, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gap.db"), sqlite.Options{Migrations: []sqlite.MigrationLine{gap}}); err == nil {
		t.Fatal("a line starting at 2 was accepted")
	}
}

// TestLegacyMigrationsAreNotRunAgain: a database written before migration lines recorded its
// migrations in one sequence (schema_migrations); a line's migration whose legacy number is there
// is recorded as applied without running, and one whose number is not there runs.
func TestLegacyMigrationsAreNotRunAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "legacy.db")
	// What an old build left: its table, and its record of having made it as number 9.
	seed := open(t, path, sqlite.Options{Migrations: []sqlite.MigrationLine{line("seed", nil,
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL);
		 INSERT INTO schema_migrations VALUES (9, 0);
		 CREATE TABLE gadgets (id TEXT PRIMARY KEY);`)}})
	seed.Close()

	// The gadgets line says its first migration was number 9: running it would fail (the table
	// exists), so passing shows it was not run. Its second has no legacy number and runs.
	gadgets := line("gadgets", map[int]int{1: 9}, `CREATE TABLE gadgets (id TEXT PRIMARY KEY)`, `CREATE TABLE gizmos (id TEXT PRIMARY KEY)`)
	s := open(t, path, sqlite.Options{Migrations: []sqlite.MigrationLine{gadgets}})
	defer s.Close()
	if got, err := sqlite.AppliedMigrations(ctx, s, "gadgets"); err != nil || len(got) != 2 {
		t.Fatalf("gadgets applied %v (%v), want [1 2]", got, err)
	}
	if _, err := s.Reader().ExecContext(ctx, `SELECT id FROM gizmos`); err != nil {
		t.Fatalf("the line's new migration did not run: %v", err)
	}
}
