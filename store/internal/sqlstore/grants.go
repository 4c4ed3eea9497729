package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

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
