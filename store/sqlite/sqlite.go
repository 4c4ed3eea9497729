// Package sqlite is the engine.Store on SQLite: one file in WAL mode, one writing connection and a
// pool of reading ones.
//
// Every write goes through a single connection whose transactions begin IMMEDIATE, so writers
// queue in the connection pool instead of racing for SQLite's lock, and a transaction never fails
// to upgrade a read lock. Reads that need no transaction use the reader pool, which WAL lets run
// beside the writer. Commits are durable when a method returns: synchronous=FULL (the default)
// syncs the WAL on every commit, so an accepted event survives a crash of the process or of the
// machine; synchronous=NORMAL survives a crash of the process only.
//
// The SQL is kept close to what PostgreSQL accepts (plain tables, INTEGER unix milliseconds for
// times, JSON as TEXT, partial indexes, RETURNING), so a driver for it can follow the same shape.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
	"github.com/switchyard/switchyard/store/internal/sqlstore"
	// Before any connection opens: see the package.
	_ "github.com/switchyard/switchyard/store/sqlite/internal/startconfig"
	"github.com/switchyard/switchyard/store/sqlite/internal/walbuffer"
)

var _ engine.Store = (*Store)(nil)

// Options tune the database connection. The zero value is usable; WithDefaults fills it in.
type Options struct {
	// Synchronous is SQLite's synchronous setting for the writer: "FULL" (the default) makes every
	// commit survive a power loss; "NORMAL" only a crash of the process, and commits faster.
	Synchronous string
	// BusyTimeout is how long a connection waits for a lock another process holds. Default 10s.
	BusyTimeout time.Duration
	// Readers is the size of the reader pool. Default: the number of CPUs, at least 4.
	Readers int
	// Migrations are the lines of the components beside the core (vendor styles' tables), run
	// after the core's in this order.
	Migrations []MigrationLine
}

// WithDefaults returns o with unset fields at their defaults.
func (o Options) WithDefaults() Options {
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	o.Synchronous = strings.ToUpper(o.Synchronous)
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	if o.Readers <= 0 {
		o.Readers = max(4, runtime.NumCPU())
	}
	return o
}

// Store is the engine.Store on one SQLite database file.
type Store struct {
	// shared runs the statements this driver runs as store/postgres does, on r and through write.
	*shared

	w *sqlx.DB // one connection: every write
	r *sqlx.DB // several connections: plain reads

	// purgeBatch is how many attempts PurgeAttempts deletes per transaction.
	purgeBatch int
	// synchronous is the configured durability of writes; syncOf is the writer connection's
	// current setting, which writeRelaxed lowers.
	synchronous string
	syncOf      struct {
		conn  any
		level string
	}
}

// stmtCacheSize is how many prepared statements each connection keeps for reuse; the store runs
// a few dozen distinct statements.
const stmtCacheSize = 128

// Open opens (creating it if needed) the database at path, and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts = opts.WithDefaults()
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite: %q: give the path of a database file", path)
	}
	switch opts.Synchronous {
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("open sqlite: synchronous %q: want FULL or NORMAL", opts.Synchronous)
	}
	if err := restrictFile(path); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if walbuffer.Registered != nil {
		return nil, fmt.Errorf("open sqlite: %w", walbuffer.Registered)
	}
	// A file: URI, so that the path may hold any character; the driver reads the _ parameters
	// and SQLite ignores them.
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	cache := strconv.Itoa(stmtCacheSize)

	// _mutex=no: database/sql hands a connection to one goroutine at a time, so SQLite need not
	// take the connection's mutex on every call (its multi-thread mode). This mutex and the memory
	// count's (internal/startconfig) were 2.5% of the server's CPU, by perf, in the load generator's
	// 16 x 20 run.
	wq := url.Values{}
	wq.Set("_journal_mode", "WAL")
	wq.Set("_busy_timeout", busy)
	wq.Set("_foreign_keys", "on")
	wq.Set("_txlock", "immediate")
	wq.Set("_mutex", "no")
	wq.Set("_synchronous", opts.Synchronous)
	wq.Set("_stmt_cache_size", cache)
	// The writer alone writes the WAL: its frames go to the file a transaction at a time
	// (internal/walbuffer).
	wq.Set("vfs", walbuffer.VFS)
	w, err := sqlx.Open("sqlite3", base+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, purgeBatch: 5000, synchronous: opts.Synchronous}
	// The writer's first connection switches the file to WAL before any reader opens it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := s.Migrate(ctx, opts.Migrations...); err != nil {
		w.Close()
		return nil, err
	}

	rq := url.Values{}
	rq.Set("_busy_timeout", busy)
	rq.Set("_foreign_keys", "on")
	rq.Set("_query_only", "on")
	rq.Set("_mutex", "no")
	rq.Set("_stmt_cache_size", cache)
	r, err := sqlx.Open("sqlite3", base+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	s.r = r
	s.shared = sqlstore.New(sqlstore.Config{Rows: dialect, Read: r, Write: s.write, WriteRelaxed: s.writeRelaxed, GrantLive: grantLive, MapError: MapError})
	return s, nil
}

// restrictFile creates the database file readable by its owner only, before SQLite opens it:
// SQLite gives the -wal and -shm files the database file's permissions, and they hold the same
// data. A file from an older version, created with the umask's permissions, loses its group and
// other bits, as do its -wal and -shm.
func restrictFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_ = f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&^0o077); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close closes the database, after letting SQLite refresh its query planner statistics.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	_, _ = s.w.Exec("PRAGMA optimize")
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// Write runs fn in a write transaction on the one writing connection and commits it, durably as
// Options.Synchronous says. It is how a vendor style's store writes its own tables beside the
// engine's: in the same file, queued behind the same writer, never racing it for SQLite's lock.
func (s *Store) Write(ctx context.Context, fn func(tx *sqlx.Tx) error) error { return s.write(ctx, fn) }

// Reader is the pool of read-only connections, for a style's store to read from beside the
// writer (WAL lets them run at once).
func (s *Store) Reader() *sqlx.DB { return s.r }

// write runs fn in a write transaction on the writer and commits it, durably as Options.Synchronous
// says.
func (s *Store) write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.writeSynced(ctx, s.synchronous, fn)
}

// writeRelaxed is write for what the engine can lose to a power cut without losing an event: the
// bookkeeping of claims and attempts. Its commit does not wait for the disk (synchronous=NORMAL);
// the next durable commit syncs it along, since the WAL is one file written in order. Should the
// machine lose power first, the deliveries it recorded are sent again, under the same delivery ids,
// which at-least-once delivery allows. A crash of the process alone loses nothing.
func (s *Store) writeRelaxed(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.writeSynced(ctx, "NORMAL", fn)
}

func (s *Store) writeSynced(ctx context.Context, level string, fn func(tx *sqlx.Tx) error) error {
	conn, err := s.w.Connx(ctx)
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	defer conn.Close()
	// The writer is one connection, so holding it makes this the only code touching s.syncOf.
	// A new connection (the pool replaced a broken one) starts at the configured level.
	var driverConn any
	if err := conn.Raw(func(c any) error { driverConn = c; return nil }); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	current := s.synchronous
	if s.syncOf.conn == driverConn {
		current = s.syncOf.level
	}
	if current != level {
		s.syncOf.conn = nil
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+level); err != nil {
			return fmt.Errorf("synchronous %s: %w", level, err)
		}
	}
	s.syncOf.conn, s.syncOf.level = driverConn, level
	tx, err := conn.BeginTxx(ctx, nil)
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

// stmt runs query in tx without an explicit Prepare (sqlstore.Stmt says why).
func stmt(tx *sqlx.Tx, query string) sqlstore.Stmt { return sqlstore.NewStmt(tx, query) }

// MapError maps a driver error to the engine's conditions, keeping the driver's error in the chain:
// a unique or primary key clash is engine.ErrConflict, a reference to a missing row
// engine.ErrInvalid, no row engine.ErrNotFound.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return fmt.Errorf("%w: %w", engine.ErrConflict, err)
		case sqlite3.ErrConstraintForeignKey:
			return fmt.Errorf("%w: it refers to a row that does not exist: %w", engine.ErrInvalid, err)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return engine.ErrNotFound
	}
	return err
}

// shared is the part of the engine.Store both drivers run alike. An alias, so that the embedded
// field is not exported.
type shared = sqlstore.Store

// dialect binds rows as SQLite keeps them: any text as it is, attempts' bodies as TEXT.
var dialect = sqlrow.Dialect{}

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

// InChunks calls fn with the ids in chunks, each padded to a power of two (sqlrow.InChunks).
func InChunks(ids []string, fn func(chunk []string) error) error { return sqlrow.InChunks(ids, fn) }

// selectIn runs query, whose one (?) takes ids, on q and appends the rows to dest (sqlrow.SelectIn).
func selectIn[T any](ctx context.Context, q sqlx.QueryerContext, dest *[]T, query string, ids []string) error {
	return sqlrow.SelectIn(ctx, q, nil, dest, query, ids)
}

// LimitClause is " LIMIT n", or nothing for a limit of zero or less, which means no limit.
func LimitClause(n int) string { return sqlrow.LimitClause(n) }
