package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/plugins/salesking/store"
	core "github.com/switchyard/switchyard/store/postgres"
)

// Store is the SalesKing style's store on the node's database: the salesking_companies table.
type Store struct {
	db *core.Store
}

var _ store.Store = (*Store)(nil)

// New returns the style's store on the core store, whose database holds the tables of Migrations.
func New(db *core.Store) store.Store { return &Store{db: db} }

// SetSubDomain records an account's sub-domain, replacing any it had. One statement: the upsert
// holds however many nodes set it at once, the last to commit winning.
func (s *Store) SetSubDomain(ctx context.Context, accountID, subDomain string, at time.Time) error {
	err := s.db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO salesking_companies (account_id, sub_domain, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (account_id) DO UPDATE SET sub_domain = excluded.sub_domain, updated_at = excluded.updated_at`,
			accountID, subDomain, core.ToMS(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("set salesking sub-domain of %q: %w", accountID, core.MapError(err))
	}
	return nil
}

// SubDomain returns an account's sub-domain and when it was set, or engine.ErrNotFound when none
// was recorded.
func (s *Store) SubDomain(ctx context.Context, accountID string) (string, time.Time, error) {
	var row struct {
		SubDomain string `db:"sub_domain"`
		UpdatedAt int64  `db:"updated_at"`
	}
	err := s.db.DB().GetContext(ctx, &row, `SELECT sub_domain, updated_at FROM salesking_companies WHERE account_id = $1`, accountID)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("salesking sub-domain of %q: %w", accountID, core.MapError(err))
	}
	return row.SubDomain, core.FromMS(row.UpdatedAt), nil
}
