package postgres

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
	err = s.write(ctx, func(tx *sqlx.Tx) error {
		var r sqlrow.AccountUser
		err := tx.GetContext(ctx, &r, rebind(`SELECT `+sqlrow.AccountUserCols+` FROM account_users WHERE account_id = ? AND user_id = ?`), u.AccountID, u.ID)
		switch {
		case err == nil:
			u.CreatedAt = FromMS(r.CreatedAt)
			_, err = tx.ExecContext(ctx, rebind(`UPDATE account_users SET permissions = ?, updated_at = ? WHERE account_id = ? AND user_id = ?`),
				string(perms), ToMS(u.UpdatedAt), u.AccountID, u.ID)
			return err
		case !errors.Is(MapError(err), engine.ErrNotFound):
			return err
		}
		if p.Max > 0 {
			var n int
			if err := tx.GetContext(ctx, &n, rebind(`SELECT COUNT(*) FROM account_users WHERE account_id = ?`), u.AccountID); err != nil {
				return err
			}
			if n >= p.Max {
				return fmt.Errorf("the account has %d users, the most allowed; remove one first: %w", n, engine.ErrConflict)
			}
		}
		created = true
		_, err = tx.ExecContext(ctx, rebind(`INSERT INTO account_users (`+sqlrow.AccountUserCols+`) VALUES (?, ?, ?, ?, ?)`),
			u.AccountID, u.ID, string(perms), ToMS(u.CreatedAt), ToMS(u.UpdatedAt))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put user %q of account %q: %w", u.ID, u.AccountID, MapError(err))
	}
	return created, nil
}

func (s *Store) GetAccountUser(ctx context.Context, accountID, userID string) (*engine.AccountUser, error) {
	var r sqlrow.AccountUser
	if err := s.db.GetContext(ctx, &r, rebind(`SELECT `+sqlrow.AccountUserCols+` FROM account_users WHERE account_id = ? AND user_id = ?`), accountID, userID); err != nil {
		return nil, fmt.Errorf("user %q of account %q: %w", userID, accountID, MapError(err))
	}
	return r.Engine()
}

func (s *Store) ListAccountUsers(ctx context.Context, accountID string, p engine.Page) ([]*engine.AccountUser, error) {
	var rows []sqlrow.AccountUser
	if err := s.db.SelectContext(ctx, &rows, rebind(`SELECT `+sqlrow.AccountUserCols+` FROM account_users WHERE account_id = ? AND user_id > ? ORDER BY user_id`+LimitClause(p.Limit)),
		accountID, p.After); err != nil {
		return nil, fmt.Errorf("list users of account %q: %w", accountID, MapError(err))
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
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, rebind(`DELETE FROM account_users WHERE account_id = ? AND user_id = ?`), accountID, userID)
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
		return fmt.Errorf("delete user %q of account %q: %w", userID, accountID, MapError(err))
	}
	return nil
}
