package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

//go:embed migrations/core/*.sql
var coreFiles embed.FS

// CoreComponent names the engine's own line of migrations.
const CoreComponent = "core"

// coreLine is the engine's schema. Before migration lines, every component shared one sequence
// recorded in schema_migrations; Legacy maps each migration to the number it had there.
var coreLine = EmbeddedLine(CoreComponent, coreFiles, "migrations/core", map[int]int{1: 1, 2: 3, 3: 7})

// A MigrationLine is one component's numbered migrations: the core's, or a vendor style's. Each
// line counts from 1 on its own, so a new style or a new migration of one never renumbers another.
// Lines run in the order given, the core's first, each migration in its own transaction.
type MigrationLine struct {
	// Component names the line in schema_versions: "core", or a style's name.
	Component string
	// Files holds the line's migrations at its root, named NNNN_what.sql.
	Files fs.FS
	// Legacy maps the line's versions to the numbers they had in the single sequence of builds
	// before migration lines, so that a database those builds wrote is not migrated twice.
	Legacy map[int]int
}

type migration struct {
	version int
	name    string
	sql     string
}

func (l MigrationLine) migrations() ([]migration, error) {
	entries, err := fs.ReadDir(l.Files, ".")
	if err != nil {
		return nil, fmt.Errorf("%s migrations: %w", l.Component, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || !strings.HasSuffix(name, ".sql") || err != nil || v <= 0 {
			return nil, fmt.Errorf("%s migration %s: want a name such as 0001_init.sql", l.Component, name)
		}
		b, err := fs.ReadFile(l.Files, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		// Numbered without gaps, so that a migration merged out of order shows up here.
		if m.version != i+1 {
			return nil, fmt.Errorf("%s migration %s: want version %d", l.Component, m.name, i+1)
		}
	}
	return out, nil
}

// Migrate applies the migrations of the core and of lines the database lacks, and records them
// in schema_versions. Running it again changes nothing.
func (s *Store) Migrate(ctx context.Context, lines ...MigrationLine) error {
	all := append([]MigrationLine{coreLine}, lines...)
	seen := map[string]bool{}
	for _, l := range all {
		if seen[l.Component] || l.Component == "" {
			return fmt.Errorf("migrate: migration line %q given twice or unnamed", l.Component)
		}
		seen[l.Component] = true
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
		component  TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		applied_at INTEGER NOT NULL,
		PRIMARY KEY (component, version)
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_versions: %w", err)
	}
	legacy, err := s.legacyVersions(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, l := range all {
		if err := s.migrateLine(ctx, l, legacy); err != nil {
			return err
		}
	}
	return nil
}

// legacyVersions reads schema_migrations, where builds before migration lines recorded what they
// applied; nil when the database has none. The table is kept, so that a line this build does not
// open (a test of the core store alone) still finds its history when it is opened later.
func (s *Store) legacyVersions(ctx context.Context) (map[int]bool, error) {
	var exists bool
	if err := s.w.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`); err != nil {
		return nil, err
	}
	if !exists {
		return nil, nil
	}
	var versions []int
	if err := s.w.SelectContext(ctx, &versions, `SELECT version FROM schema_migrations`); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	out := map[int]bool{}
	for _, v := range versions {
		out[v] = true
	}
	return out, nil
}

func (s *Store) migrateLine(ctx context.Context, l MigrationLine, legacy map[int]bool) error {
	ms, err := l.migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var newest sql.NullInt64
	if err := s.w.GetContext(ctx, &newest, `SELECT MAX(version) FROM schema_versions WHERE component = ?`, l.Component); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if newest.Valid && int(newest.Int64) > len(ms) {
		return fmt.Errorf("migrate: %s is at schema version %d, newer than this build knows (%d)", l.Component, newest.Int64, len(ms))
	}
	for _, m := range ms {
		err := s.write(ctx, func(tx *sqlx.Tx) error {
			// Checked inside the transaction: another process may have applied it meanwhile.
			var done bool
			if err := tx.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM schema_versions WHERE component = ? AND version = ?)`,
				l.Component, m.version); err != nil {
				return err
			}
			if done {
				return nil
			}
			if g, ok := l.Legacy[m.version]; !ok || !legacy[g] {
				if _, err := tx.ExecContext(ctx, m.sql); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_versions (component, version, applied_at) VALUES (?, ?, ?)`,
				l.Component, m.version, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %s %s: %w", l.Component, m.name, err)
		}
	}
	return nil
}

// EmbeddedLine is the migration line of a component whose migrations are embedded in dir of files.
func EmbeddedLine(component string, files embed.FS, dir string, legacy map[int]int) MigrationLine {
	return MigrationLine{Component: component, Files: mustSub(files, dir), Legacy: legacy}
}

// mustSub is fs.Sub for a folder embedded at build time, which cannot fail.
func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
