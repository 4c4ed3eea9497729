package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

func (s *Store) RevokeGrant(ctx context.Context, p engine.RevokeGrantParams) (*engine.Grant, []string, error) {
	var r sqlrow.Grant
	var disabled []string
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &r, `SELECT `+sqlrow.GrantCols+` FROM grants WHERE id = ? AND account_id = ?`, p.ID, p.AccountID); err != nil {
			return err
		}
		if r.RevokedAt.Valid {
			return fmt.Errorf("grant %s was already revoked: %w", p.ID, engine.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE id = ?`, ToMS(p.At), p.ID); err != nil {
			return err
		}
		r.RevokedAt.Int64, r.RevokedAt.Valid = ToMS(p.At), true
		// A subscription a credential bound to the account made stands on that credential, which
		// the account granted apart from this record.
		return tx.SelectContext(ctx, &disabled, `UPDATE subscriptions SET state = ?, disabled_reason = ?, updated_at = ?, version = version + 1
			WHERE app_id = ? AND account_id = ? AND state <> ?
			AND NOT EXISTS (SELECT 1 FROM credentials c WHERE c.id = subscriptions.credential_id AND c.account_id = subscriptions.account_id)
			RETURNING id`,
			string(engine.SubscriptionDisabled), p.Reason, ToMS(p.At), r.AppID, r.AccountID, string(engine.SubscriptionDisabled))
	})
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("revoke grant %q: %w", p.ID, MapError(err))
	}
	g, err := r.Engine()
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(disabled)
	return g, disabled, nil
}

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
