// Package sqlstore is the part of engine.Store that store/sqlite and store/postgres run alike: the
// same statements, written with ? placeholders, on the rows of store/internal/sqlrow. Each driver
// embeds a Store and keeps what it does its own way: claims, SQLite's writer transactions and
// statement chunks, PostgreSQL's row locks.
package sqlstore

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

// Config is what a driver lends the shared statements.
type Config struct {
	// Rebind turns the ? placeholders the statements are written with into the driver's own; nil
	// leaves them.
	Rebind func(query string) string
	// Rows binds rows' values as the driver's column types take them.
	Rows sqlrow.Dialect
	// Read runs the reads that need no transaction (SQLite's reader pool beside its one writer).
	Read sqlx.QueryerContext
	// Write runs fn in a write transaction and commits it, as the driver's other writes are.
	Write func(ctx context.Context, fn func(tx *sqlx.Tx) error) error
	// WriteRelaxed is Write for what the engine may lose to a power cut without losing an event:
	// attempts' bookkeeping (SQLite's commits that do not wait for the disk). nil: Write.
	WriteRelaxed func(ctx context.Context, fn func(tx *sqlx.Tx) error) error
	// ForUpdate ends a read whose row the same transaction then updates from what it read:
	// " FOR UPDATE" where transactions run at once (PostgreSQL), so that two outcomes of one
	// delivery count one after the other, never both from the same read, and a grant is revoked
	// once; empty where one writer already serialises them (SQLite).
	ForUpdate string
	// GrantLive fails with engine.ErrForbidden unless the grant is unrevoked, inside tx, and keeps
	// it so until tx ends (PostgreSQL locks it; SQLite's one writer lets nothing revoke it meanwhile).
	GrantLive func(ctx context.Context, tx *sqlx.Tx, id string) error
	// MapError maps a driver error to the engine's conditions (engine.ErrNotFound, ErrConflict, ...).
	MapError func(error) error
}

// Store runs the statements both drivers share.
type Store struct {
	c Config
	// Ingest's and Complete's writes, many rows to a statement.
	insertEvents, insertDeliveryRows, insertAttempts, countAttempts *multiRow
}

// New returns a Store on c.
func New(c Config) *Store {
	if c.WriteRelaxed == nil {
		c.WriteRelaxed = c.Write
	}
	s := &Store{c: c}
	s.insertEvents = newMultiRowInsert(c.Rebind, "events", sqlrow.EventCols, insertEventsTail)
	s.insertDeliveryRows = newMultiRowInsert(c.Rebind, "deliveries", sqlrow.DeliveryCols, "")
	s.insertAttempts = newMultiRowInsert(c.Rebind, "attempts", sqlrow.AttemptCols, "")
	s.countAttempts = newMultiRow(c.Rebind, countAttemptsHead, countAttemptsRow, countAttemptsTail)
	return s
}

func (s *Store) q(query string) string { return rebound(s.c.Rebind, query) }

func rebound(rebind func(string) string, query string) string {
	if rebind == nil {
		return query
	}
	return rebind(query)
}
