package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

func (s *Store) PutAccountUser(ctx context.Context, p engine.PutAccountUserParams) (bool, error) {
	u := p.User
	perms, err := json.Marshal(u.Permissions)
	if err != nil {
		return false, err
	}
	created := false
	err = s.c.Write(ctx, func(tx *sqlx.Tx) error {
		var r sqlrow.AccountUser
		err := tx.GetContext(ctx, &r, s.q(`SELECT `+sqlrow.AccountUserCols+` FROM account_users WHERE account_id = ? AND user_id = ?`), u.AccountID, u.ID)
		switch {
		case err == nil:
			u.CreatedAt = sqlrow.FromMS(r.CreatedAt)
			_, err = tx.ExecContext(ctx, s.q(`UPDATE account_users SET permissions = ?, updated_at = ? WHERE account_id = ? AND user_id = ?`),
				string(perms), sqlrow.ToMS(u.UpdatedAt), u.AccountID, u.ID)
			return err
		case !errors.Is(s.c.MapError(err), engine.ErrNotFound):
			return err
		}
		if p.Max > 0 {
			var n int
			if err := tx.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM account_users WHERE account_id = ?`), u.AccountID); err != nil {
				return err
			}
			if n >= p.Max {
				return fmt.Errorf("the account has %d users, the most allowed; remove one first: %w", n, engine.ErrConflict)
			}
		}
		created = true
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO account_users (`+sqlrow.AccountUserCols+`) VALUES (?, ?, ?, ?, ?)`),
			u.AccountID, u.ID, string(perms), sqlrow.ToMS(u.CreatedAt), sqlrow.ToMS(u.UpdatedAt))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put user %q of account %q: %w", u.ID, u.AccountID, s.c.MapError(err))
	}
	return created, nil
}

func (s *Store) GetAccountUser(ctx context.Context, accountID, userID string) (*engine.AccountUser, error) {
	var r sqlrow.AccountUser
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.AccountUserCols+` FROM account_users WHERE account_id = ? AND user_id = ?`), accountID, userID); err != nil {
		return nil, fmt.Errorf("user %q of account %q: %w", userID, accountID, s.c.MapError(err))
	}
	return r.Engine()
}

func (s *Store) ListAccountUsers(ctx context.Context, accountID string, p engine.Page) ([]*engine.AccountUser, error) {
	var rows []sqlrow.AccountUser
	if err := sqlx.SelectContext(ctx, s.c.Read, &rows, s.q(`SELECT `+sqlrow.AccountUserCols+` FROM account_users WHERE account_id = ? AND user_id > ? ORDER BY user_id`+sqlrow.LimitClause(p.Limit)),
		accountID, p.After); err != nil {
		return nil, fmt.Errorf("list users of account %q: %w", accountID, s.c.MapError(err))
	}
	out := make([]*engine.AccountUser, len(rows))
	for i := range rows {
		u, err := rows[i].Engine()
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}

func (s *Store) DeleteAccountUser(ctx context.Context, accountID, userID string) error {
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM account_users WHERE account_id = ? AND user_id = ?`), accountID, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return engine.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete user %q of account %q: %w", userID, accountID, s.c.MapError(err))
	}
	return nil
}
