package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/switchyard/switchyard/store/internal/sqlstore"
	"github.com/switchyard/switchyard/store/sqlite/internal/startconfig"
	"github.com/switchyard/switchyard/store/sqlite/internal/stmtstatus"
	"github.com/switchyard/switchyard/store/sqlite/internal/walbuffer"
)

// Test-only views of the store's insides.

// AppliedMigrations lists the versions of a component recorded in schema_versions, in order.
func AppliedMigrations(ctx context.Context, s *Store, component string) ([]int, error) {
	var v []int
	err := s.w.SelectContext(ctx, &v, `SELECT version FROM schema_versions WHERE component = ? ORDER BY version`, component)
	return v, err
}

// KnownMigrations lists the versions of the core's embedded migrations, in order.
func KnownMigrations() ([]int, error) {
	ms, err := coreLine.Migrations()
	var v []int
	for _, m := range ms {
		v = append(v, m.Version)
	}
	return v, err
}

type Pragmas struct {
	JournalMode, ReaderJournalMode string
	Synchronous                    int
	ForeignKeys                    bool
	BusyTimeoutMS                  int
}

// ReadPragmas reads the writer's settings, and the journal mode a reader sees.
func ReadPragmas(ctx context.Context, s *Store) (Pragmas, error) {
	var p Pragmas
	for _, q := range []struct {
		sql string
		dst any
	}{
		{"PRAGMA journal_mode", &p.JournalMode},
		{"PRAGMA synchronous", &p.Synchronous},
		{"PRAGMA foreign_keys", &p.ForeignKeys},
		{"PRAGMA busy_timeout", &p.BusyTimeoutMS},
	} {
		if err := s.w.GetContext(ctx, q.dst, q.sql); err != nil {
			return p, err
		}
	}
	err := s.r.GetContext(ctx, &p.ReaderJournalMode, "PRAGMA journal_mode")
	return p, err
}

// IsConstraintError reports whether err holds the driver's constraint error.
func IsConstraintError(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// HotQueryPlans returns EXPLAIN QUERY PLAN of the hot statements, one line per step.
func HotQueryPlans(ctx context.Context, s *Store) (map[string]string, error) {
	queries := map[string]struct {
		sql  string
		args []any
	}{
		"claim":              {claimSQL(claimSelectSQL, 40, 32), []any{1, "[]"}},
		"claim-skipping":     {claimSQL(claimSkippingSQL, 40, 32), []any{`["s"]`, 1}},
		"nextdue":            {nextDueSQL, nil},
		"recover":            {recoverSQL, []any{1, 1, 1, "", ""}},
		"routing":            {sqlstore.WideSubscriptionsSQL, []any{"acc"}},
		"routing-entity":     {sqlstore.EntitySubscriptionsSQL, []any{"acc", "doc-1"}},
		"routing-has-entity": {sqlstore.HasEntitySubscriptionsSQL, []any{"acc"}},
		"purge":              {purgeSQL, []any{1, 10}},
		"count":              {sqlstore.CountDeliveriesSQL, []any{1, 1}},
	}
	out := map[string]string{}
	for name, q := range queries {
		rows, err := s.w.QueryxContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			return nil, err
		}
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				rows.Close()
				return nil, err
			}
			lines = append(lines, detail)
		}
		rows.Close()
		out[name] = strings.Join(lines, "; ")
	}
	return out, nil
}

// SetPurgeBatch sets how many attempts PurgeAttempts deletes per transaction.
func SetPurgeBatch(s *Store, n int) { s.purgeBatch = n }

// SynchronousInWrites returns PRAGMA synchronous as a durable write sees it and as a relaxed
// write sees it, in that order, each read inside its transaction.
func SynchronousInWrites(ctx context.Context, s *Store) (durable, relaxed int, err error) {
	if err = s.writeRelaxed(ctx, func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &relaxed, "PRAGMA synchronous") }); err != nil {
		return
	}
	err = s.write(ctx, func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &durable, "PRAGMA synchronous") })
	return
}

// HotReprepares runs each read of the ingest and claim transactions twice on the writer, the
// second time with other values, and returns how many times SQLite prepared each again
// (stmtstatus.Reprepares): those transactions run them with new values every time.
func HotReprepares(ctx context.Context, s *Store) (map[string]int, error) {
	queries := map[string]struct {
		sql        string
		first, now []driver.Value
	}{
		"routing":            {sqlstore.WideSubscriptionsSQL, []driver.Value{"acc"}, []driver.Value{"acc-2"}},
		"routing-entity":     {sqlstore.EntitySubscriptionsSQL, []driver.Value{"acc", "doc-1"}, []driver.Value{"acc-2", "doc-2"}},
		"routing-has-entity": {sqlstore.HasEntitySubscriptionsSQL, []driver.Value{"acc"}, []driver.Value{"acc-2"}},
		"claim":              {claimSQL(claimSelectSQL, 512, 256), []driver.Value{int64(1), "[]"}, []driver.Value{int64(2), `["s"]`}},
		"claim-skipping":     {claimSQL(claimSkippingSQL, 512, 256), []driver.Value{`["s"]`, int64(1)}, []driver.Value{`["t"]`, int64(2)}},
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := map[string]int{}
	err = conn.Raw(func(dc any) error {
		for name, q := range queries {
			stmt, err := dc.(*sqlite3.SQLiteConn).Prepare(q.sql)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			for _, args := range [][]driver.Value{q.first, q.now} {
				rows, err := stmt.Query(args)
				if err != nil {
					stmt.Close()
					return fmt.Errorf("%s: %w", name, err)
				}
				dest := make([]driver.Value, len(rows.Columns()))
				for rows.Next(dest) == nil {
				}
				rows.Close()
			}
			n, err := stmtstatus.Reprepares(stmt)
			stmt.Close()
			if err != nil {
				return err
			}
			out[name] = n
		}
		return nil
	})
	return out, err
}

// MemstatusOff, PagecacheBulkOff and StmtJournalSpillSet are SQLite's answers to setting its start
// options (0: done), and MemoryCounted the memory it counts as held.
var (
	MemstatusOff        = startconfig.MemstatusOff
	PagecacheBulkOff    = startconfig.PagecacheBulkOff
	StmtJournalSpillSet = startconfig.StmtJournalSpillSet
	MemoryCounted       = startconfig.Used
	WALWrites           = walbuffer.Writes
	CheckpointReads     = walbuffer.CheckpointReads
)
