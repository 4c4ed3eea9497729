// Package postgres is the engine.Store on PostgreSQL, through pgx's database/sql driver under sqlx:
// the same queries, row types and behaviour as store/sqlite, in PostgreSQL's dialect.
//
// Where SQLite serialises every write behind one connection, PostgreSQL runs them at once on a pool,
// at READ COMMITTED; the statements that decide from what they read take row locks (claims with
// FOR UPDATE SKIP LOCKED, so that several processes on one database share the due deliveries
// without waiting on each other; Complete locks the delivery it counts an attempt on). A transaction
// PostgreSQL aborts for a deadlock or a serialization failure is run again.
//
// Times are BIGINT unix milliseconds, as in SQLite: the engine keeps millisecond precision, the row
// types and their conversions stay the same for both drivers, a copy between them moves numbers
// without time zone arithmetic, and comparisons of lease ends and due times are integer ones.
// Text that the engine orders or compares (IDs, cursors) is COLLATE "C", byte order as in SQLite,
// whatever the database's locale.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
	"github.com/switchyard/switchyard/store/internal/sqlstore"
	"github.com/switchyard/switchyard/store/migrate"
)

var _ engine.Store = (*Store)(nil)

// Options tune the connection pool. The zero value is usable; WithDefaults fills it in.
type Options struct {
	// MaxConns bounds the pool's connections to the server. Default 16.
	MaxConns int
	// Migrations are the PostgreSQL lines of the components beside the core (vendor styles'
	// tables), run after the core's in this order.
	Migrations []migrate.Line
}

// WithDefaults returns o with unset fields at their defaults.
func (o Options) WithDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	return o
}

// Store is the engine.Store on one PostgreSQL database.
type Store struct {
	// shared runs the statements this driver runs as store/sqlite does, rebound to $n.
	*shared

	db *sqlx.DB
	// url is the database's, for the connections of its own a Notifier or a Leader opens.
	url string
	// purgeBatch is how many attempts PurgeAttempts deletes per transaction.
	purgeBatch int
}

// Open connects to the database at url (postgres://...) and brings its schema up to date.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts = opts.WithDefaults()
	db, err := sqlx.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres %s: %w", Redact(url), err)
	}
	s := &Store{db: db, url: url, purgeBatch: 5000}
	s.shared = sqlstore.New(sqlstore.Config{Rebind: rebind, Rows: dialect, Read: db, Write: s.write, ForUpdate: " FOR UPDATE", GrantLive: grantLive, MapError: MapError})
	if err := s.Migrate(ctx, opts.Migrations...); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Redact is url without its password, for messages and logs.
func Redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	if name, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + name + ":xxxxx@" + host
	}
	return url
}

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Write runs fn in a transaction and commits it, running it again when PostgreSQL aborts it for a
// deadlock or a serialization failure: fn must be safe to run more than once. It is how a vendor
// style's store writes its own tables beside the engine's.
func (s *Store) Write(ctx context.Context, fn func(tx *sqlx.Tx) error) error { return s.write(ctx, fn) }

// DB is the pool, for a style's store to read from.
func (s *Store) DB() *sqlx.DB { return s.db }

// maxTries bounds the runs of one transaction that PostgreSQL keeps aborting.
const maxTries = 8

func (s *Store) write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	var err error
	for try := 1; try <= maxTries; try++ {
		if err = s.writeOnce(ctx, fn); !retryable(err) {
			return err
		}
		// Back off a little, longer each time, so the transactions that collided part ways.
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(try*try) * time.Millisecond):
		}
	}
	return fmt.Errorf("gave up after %d tries: %w", maxTries, err)
}

func (s *Store) writeOnce(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retryable reports a deadlock or a serialization failure: the transaction did nothing, and the
// same work may succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// MapError maps a driver error to the engine's conditions, keeping the driver's error in the chain:
// a unique or primary key clash is engine.ErrConflict, a reference to a missing row or text
// PostgreSQL cannot hold (a NUL byte) engine.ErrInvalid, no row engine.ErrNotFound.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", engine.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: it refers to a row that does not exist: %w", engine.ErrInvalid, err)
		case "22021", "22P05": // character_not_in_repertoire, untranslatable_character
			return fmt.Errorf("%w: text holds a NUL byte or is not UTF-8: %w", engine.ErrInvalid, err)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return engine.ErrNotFound
	}
	return err
}

// rebind turns the ? placeholders the queries are written with (as for SQLite) into $1, $2, ...
func rebind(q string) string { return sqlx.Rebind(sqlx.DOLLAR, q) }

// shared is the part of the engine.Store both drivers run alike. An alias, so that the embedded
// field is not exported.
type shared = sqlstore.Store

// dialect binds rows as PostgreSQL's types take them: text from outside cleaned, attempts' bodies
// as BYTEA.
var dialect = sqlrow.Dialect{CleanText: cleanText, BinaryBodies: true}

// Times are unix milliseconds in the database, in every table, a style's too. A style's store
// reads and writes them with these; they are store/internal/sqlrow's, which both drivers share.

// ToMS is how a time is stored.
func ToMS(t time.Time) int64 { return sqlrow.ToMS(t) }

// FromMS reads a stored time, in UTC.
func FromMS(v int64) time.Time { return sqlrow.FromMS(v) }

// ToNullMS stores an optional time; nil is NULL.
func ToNullMS(t *time.Time) sql.NullInt64 { return sqlrow.ToNullMS(t) }

// FromNullMS reads an optional time.
func FromNullMS(v sql.NullInt64) *time.Time { return sqlrow.FromNullMS(v) }

// cleanText makes text from outside the engine (an error a receiver or a plugin caused) storable
// in a TEXT column, which refuses NUL bytes and invalid UTF-8 where SQLite keeps any bytes: NUL
// is dropped, invalid bytes become U+FFFD. Losing an attempt's record to its error message would
// be worse.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// LimitClause is " LIMIT n", or nothing for a limit of zero or less, which means no limit.
func LimitClause(n int) string { return sqlrow.LimitClause(n) }

// selectAny runs query, whose one ? takes ids as a text[] (= ANY (?)), on q and appends the rows
// to dest: one statement for any number of IDs, where SQLite needs IN lists in chunks.
func selectAny[T any](ctx context.Context, q sqlx.QueryerContext, dest *[]T, query string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var rows []T
	if err := sqlx.SelectContext(ctx, q, &rows, rebind(query), ids); err != nil {
		return err
	}
	*dest = append(*dest, rows...)
	return nil
}

// Shared reports that other nodes may use this database at once (engine.SharedStore).
func (s *Store) Shared() bool { return true }
