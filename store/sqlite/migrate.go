package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/migrate"
)

//go:embed migrations/core/*.sql
var coreFiles embed.FS

// CoreComponent names the engine's own line of migrations.
const CoreComponent = "core"

// coreLine is the engine's schema. Before migration lines, every component shared one sequence
// recorded in schema_migrations; Legacy maps each migration to the number it had there.
var coreLine = func() MigrationLine {
	l := EmbeddedLine(CoreComponent, coreFiles, "migrations/core", map[int]int{1: 1, 2: 3, 3: 7})
	l.After = hashLegacyConfirmTokens
	return l
}()

// A MigrationLine is one component's numbered migrations (see migrate.Line); the name stays so
// that the styles' SQLite stores keep compiling.
type MigrationLine = migrate.Line

// Migrate applies the migrations of the core and of lines the database lacks, and records them
// in schema_versions. Running it again changes nothing.
func (s *Store) Migrate(ctx context.Context, lines ...MigrationLine) error {
	all := append([]MigrationLine{coreLine}, lines...)
	if err := migrate.CheckLines(all); err != nil {
		return err
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
	ms, err := l.Migrations()
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
				l.Component, m.Version); err != nil {
				return err
			}
			if done {
				return nil
			}
			if g, ok := l.Legacy[m.Version]; !ok || !legacy[g] {
				if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_versions (component, version, applied_at) VALUES (?, ?, ?)`,
				l.Component, m.Version, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %s %s: %w", l.Component, m.Name, err)
		}
	}
	if l.After != nil {
		if err := s.write(ctx, func(tx *sqlx.Tx) error { return l.After(ctx, tx.Tx) }); err != nil {
			return fmt.Errorf("migrate: %s, after its migrations: %w", l.Component, err)
		}
	}
	return nil
}

// hashLegacyConfirmTokens replaces the clear confirmation tokens older versions stored with their
// hashes (see migration 0005).
func hashLegacyConfirmTokens(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, confirm_token FROM subscriptions WHERE confirm_token IS NOT NULL`)
	if err != nil {
		return err
	}
	clear := map[string]string{}
	for rows.Next() {
		var id, token string
		if err := rows.Scan(&id, &token); err != nil {
			rows.Close()
			return err
		}
		clear[id] = token
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for id, token := range clear {
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET confirm_token_hash = ?, confirm_token = NULL WHERE id = ?`,
			engine.HashToken(token), id); err != nil {
			return fmt.Errorf("hash the confirmation token of subscription %s: %w", id, err)
		}
	}
	return nil
}

// EmbeddedLine is the migration line of a component whose migrations are embedded in dir of files.
func EmbeddedLine(component string, files embed.FS, dir string, legacy map[int]int) MigrationLine {
	return migrate.Embedded(component, files, dir, legacy)
}
