package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/store/migrate"
)

//go:embed migrations/core/*.sql
var coreFiles embed.FS

// CoreComponent names the engine's own line of migrations.
const CoreComponent = "core"

// coreLine is the engine's schema on PostgreSQL. It has its own numbering, from 1: a PostgreSQL
// database never held the single sequence SQLite databases had before lines.
var coreLine = migrate.Embedded(CoreComponent, coreFiles, "migrations/core", nil)

// migrateLock is the advisory lock key every migration transaction takes, so that nodes starting
// at once on one database apply each migration once, one after the other. (The bytes of
// "swmigrat".)
const migrateLock int64 = 0x73776d6967726174

// Migrate applies the migrations of the core and of lines the database lacks, and records them
// in schema_versions. Running it again changes nothing; processes running it at once wait for
// each other.
func (s *Store) Migrate(ctx context.Context, lines ...migrate.Line) error {
	all := append([]migrate.Line{coreLine}, lines...)
	if err := migrate.CheckLines(all); err != nil {
		return err
	}
	err := s.writeOnce(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
			component  TEXT COLLATE "C" NOT NULL,
			version    INTEGER NOT NULL,
			applied_at BIGINT  NOT NULL,
			PRIMARY KEY (component, version)
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: create schema_versions: %w", err)
	}
	for _, l := range all {
		if err := s.migrateLine(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) migrateLine(ctx context.Context, l migrate.Line) error {
	ms, err := l.Migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var newest sql.NullInt64
	if err := s.db.GetContext(ctx, &newest, `SELECT MAX(version) FROM schema_versions WHERE component = $1`, l.Component); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if newest.Valid && int(newest.Int64) > len(ms) {
		return fmt.Errorf("migrate: %s is at schema version %d, newer than this build knows (%d)", l.Component, newest.Int64, len(ms))
	}
	for _, m := range ms {
		if newest.Valid && m.Version <= int(newest.Int64) {
			continue
		}
		// Not s.write: a migration that deadlocks is a bug to see, not to run again.
		err := s.writeOnce(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
				return err
			}
			// Checked under the lock: another process may have applied it meanwhile.
			var done bool
			if err := tx.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM schema_versions WHERE component = $1 AND version = $2)`,
				l.Component, m.Version); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_versions (component, version, applied_at) VALUES ($1, $2, $3)`,
				l.Component, m.Version, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %s %s: %w", l.Component, m.Name, err)
		}
	}
	if l.After != nil {
		err := s.writeOnce(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
				return err
			}
			return l.After(ctx, tx.Tx)
		})
		if err != nil {
			return fmt.Errorf("migrate: %s, after its migrations: %w", l.Component, err)
		}
	}
	return nil
}
