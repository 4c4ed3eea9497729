package postgres

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
)

// grantLive fails with ErrForbidden unless the grant is unrevoked, inside tx. FOR SHARE holds off
// a revocation until tx ends, so a subscription is never created under a grant revoked meanwhile.
func grantLive(ctx context.Context, tx *sqlx.Tx, id string) error {
	var ids []string
	if err := tx.SelectContext(ctx, &ids, rebind(`SELECT id FROM grants WHERE id = ? AND revoked_at IS NULL FOR SHARE`), id); err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("grant %s was revoked: %w", id, engine.ErrForbidden)
	}
	return nil
}
