package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// The SalesKing style's store (api/compat/salesking.Store): each account's SalesKing sub-domain.

// SetSalesKingSubDomain records an account's sub-domain, replacing any it had.
func (s *Store) SetSalesKingSubDomain(ctx context.Context, accountID, subDomain string, at time.Time) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO salesking_companies (account_id, sub_domain, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET sub_domain = excluded.sub_domain, updated_at = excluded.updated_at`,
			accountID, subDomain, ToMS(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("set salesking sub-domain of %q: %w", accountID, MapError(err))
	}
	return nil
}

// SalesKingSubDomain returns an account's sub-domain and when it was set, or engine.ErrNotFound
// when none was recorded.
func (s *Store) SalesKingSubDomain(ctx context.Context, accountID string) (string, time.Time, error) {
	var row struct {
		SubDomain string `db:"sub_domain"`
		UpdatedAt int64  `db:"updated_at"`
	}
	err := s.r.GetContext(ctx, &row, `SELECT sub_domain, updated_at FROM salesking_companies WHERE account_id = ?`, accountID)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("salesking sub-domain of %q: %w", accountID, MapError(err))
	}
	return row.SubDomain, FromMS(row.UpdatedAt), nil
}
