package sqlstore

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"
)

// Stmt runs one statement in a transaction, as a plain Exec or Query rather than through an
// explicit Prepare: SQLite's driver caches what it prepares for those per connection, but not what
// Prepare makes, which SQLite compiled anew in every transaction (8% of the server's CPU under
// load); pgx prepares and caches each distinct statement text per connection by itself.
type Stmt struct {
	tx    *sqlx.Tx
	query string
}

// NewStmt is query, with the driver's placeholders already, in tx.
func NewStmt(tx *sqlx.Tx, query string) Stmt { return Stmt{tx: tx, query: query} }

func (s Stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return s.tx.ExecContext(ctx, s.query, args...)
}

func (s Stmt) QueryRowxContext(ctx context.Context, args ...any) *sqlx.Row {
	return s.tx.QueryRowxContext(ctx, s.query, args...)
}

func (s Stmt) SelectContext(ctx context.Context, dest any, args ...any) error {
	return s.tx.SelectContext(ctx, dest, s.query, args...)
}

// stmt is query in tx, rebound.
func (s *Store) stmt(tx *sqlx.Tx, query string) Stmt { return NewStmt(tx, s.q(query)) }
