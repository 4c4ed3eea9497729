package sqlite

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
)

// grantLive fails with ErrForbidden unless the grant is unrevoked, inside tx.
func grantLive(ctx context.Context, tx *sqlx.Tx, id string) error {
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM grants WHERE id = ? AND revoked_at IS NULL`, id); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("grant %s was revoked: %w", id, engine.ErrForbidden)
	}
	return nil
}
