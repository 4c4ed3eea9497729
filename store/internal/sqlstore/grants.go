package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

func (s *Store) CreateGrant(ctx context.Context, g *engine.Grant) error {
	events, err := json.Marshal(g.Events)
	if err != nil {
		return fmt.Errorf("create grant %q: events: %w", g.ID, err)
	}
	err = s.c.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO grants (`+sqlrow.GrantCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
			g.ID, g.AppID, g.AccountID, string(events), sqlrow.ToMS(g.CreatedAt), sqlrow.ToNullMS(g.RevokedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create grant %q: %w", g.ID, s.c.MapError(err))
	}
	return nil
}

func (s *Store) GetGrant(ctx context.Context, appID, accountID string) (*engine.Grant, error) {
	var r sqlrow.Grant
	err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.GrantCols+` FROM grants WHERE app_id = ? AND account_id = ? AND revoked_at IS NULL`), appID, accountID)
	if err != nil {
		return nil, fmt.Errorf("grant of app %q in account %q: %w", appID, accountID, s.c.MapError(err))
	}
	return r.Engine()
}

func (s *Store) ListGrants(ctx context.Context, accountID string, p engine.Page) ([]*engine.Grant, error) {
	var rows []sqlrow.Grant
	err := sqlx.SelectContext(ctx, s.c.Read, &rows,
		s.q(`SELECT `+sqlrow.GrantCols+` FROM grants WHERE account_id = ? AND id > ? ORDER BY id`+sqlrow.LimitClause(p.Limit)), accountID, p.After)
	if err != nil {
		return nil, fmt.Errorf("list grants of account %q: %w", accountID, s.c.MapError(err))
	}
	out := make([]*engine.Grant, len(rows))
	for i := range rows {
		g, err := rows[i].Engine()
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

func (s *Store) RevokeGrant(ctx context.Context, p engine.RevokeGrantParams) (*engine.Grant, []string, error) {
	var r sqlrow.Grant
	var disabled []string
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &r, s.q(`SELECT `+sqlrow.GrantCols+` FROM grants WHERE id = ? AND account_id = ?`+s.c.ForUpdate), p.ID, p.AccountID); err != nil {
			return err
		}
		if r.RevokedAt.Valid {
			return fmt.Errorf("grant %s was already revoked: %w", p.ID, engine.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE grants SET revoked_at = ? WHERE id = ?`), sqlrow.ToMS(p.At), p.ID); err != nil {
			return err
		}
		r.RevokedAt.Int64, r.RevokedAt.Valid = sqlrow.ToMS(p.At), true
		// A subscription a credential bound to the account made stands on that credential, which
		// the account granted apart from this record.
		return tx.SelectContext(ctx, &disabled, s.q(`UPDATE subscriptions SET state = ?, disabled_reason = ?, updated_at = ?, version = version + 1
			WHERE app_id = ? AND account_id = ? AND state <> ?
			AND NOT EXISTS (SELECT 1 FROM credentials c WHERE c.id = subscriptions.credential_id AND c.account_id = subscriptions.account_id)
			RETURNING id`),
			string(engine.SubscriptionDisabled), p.Reason, sqlrow.ToMS(p.At), r.AppID, r.AccountID, string(engine.SubscriptionDisabled))
	})
	if err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("revoke grant %q: %w", p.ID, s.c.MapError(err))
	}
	g, err := r.Engine()
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(disabled)
	return g, disabled, nil
}
