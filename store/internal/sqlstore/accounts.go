package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

func (s *Store) CreateAccount(ctx context.Context, a *engine.Account) error {
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO accounts (`+sqlrow.AccountCols+`) VALUES (?, ?, ?, ?)`),
			a.ID, a.Name, sqlrow.ToMS(a.CreatedAt), sqlrow.NullInt(a.ExternalID))
		return err
	})
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.ID, s.c.MapError(err))
	}
	return nil
}

func (s *Store) GetAccount(ctx context.Context, id string) (*engine.Account, error) {
	var r sqlrow.Account
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.AccountCols+` FROM accounts WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get account %q: %w", id, s.c.MapError(err))
	}
	return r.Engine(), nil
}

func (s *Store) ListAccounts(ctx context.Context, p engine.Page) ([]*engine.Account, error) {
	var rows []sqlrow.Account
	err := sqlx.SelectContext(ctx, s.c.Read, &rows,
		s.q(`SELECT `+sqlrow.AccountCols+` FROM accounts WHERE id > ? ORDER BY id`+sqlrow.LimitClause(p.Limit)), p.After)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", s.c.MapError(err))
	}
	out := make([]*engine.Account, len(rows))
	for i := range rows {
		out[i] = rows[i].Engine()
	}
	return out, nil
}

func (s *Store) CreateApp(ctx context.Context, a *engine.App) error {
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO apps (`+sqlrow.AppCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
			a.ID, a.Name, a.URL, a.Secret, sqlrow.ToMS(a.CreatedAt), sqlrow.NullInt(a.ExternalID))
		return err
	})
	if err != nil {
		return fmt.Errorf("create app %q: %w", a.ID, s.c.MapError(err))
	}
	return nil
}

func (s *Store) GetApp(ctx context.Context, id string) (*engine.App, error) {
	var r sqlrow.App
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.AppCols+` FROM apps WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get app %q: %w", id, s.c.MapError(err))
	}
	return r.Engine(), nil
}

func (s *Store) ListApps(ctx context.Context, p engine.Page) ([]*engine.App, error) {
	var rows []sqlrow.App
	err := sqlx.SelectContext(ctx, s.c.Read, &rows,
		s.q(`SELECT `+sqlrow.AppCols+` FROM apps WHERE id > ? ORDER BY id`+sqlrow.LimitClause(p.Limit)), p.After)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", s.c.MapError(err))
	}
	out := make([]*engine.App, len(rows))
	for i := range rows {
		out[i] = rows[i].Engine()
	}
	return out, nil
}

func (s *Store) CreateCredential(ctx context.Context, c *engine.Credential) error {
	scopes, err := json.Marshal(c.Scopes)
	if err != nil {
		return fmt.Errorf("create credential %q: scopes: %w", c.ID, err)
	}
	hash := c.SecretHash
	if hash == nil {
		hash = []byte{}
	}
	err = s.c.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO credentials (`+sqlrow.CredentialCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.AppID, sqlrow.NullIfEmpty(c.AccountID), string(c.Kind), sqlrow.NullIfEmpty(c.ClientID), string(scopes),
			c.Primary, hash, sqlrow.ToMS(c.CreatedAt), sqlrow.ToNullMS(c.RevokedAt), c.AllAccounts, sqlrow.NullIfEmpty(c.UserID))
		return err
	})
	if err != nil {
		return fmt.Errorf("create credential %q: %w", c.ID, s.c.MapError(err))
	}
	return nil
}

func (s *Store) GetCredential(ctx context.Context, id string) (*engine.Credential, error) {
	var r sqlrow.Credential
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.CredentialCols+` FROM credentials WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get credential %q: %w", id, s.c.MapError(err))
	}
	return r.Engine()
}

// ListCredentials reads an app's credentials in ID order: the operator's list, a page at a time.
func (s *Store) ListCredentials(ctx context.Context, appID string, p engine.Page) ([]*engine.Credential, error) {
	var rows []sqlrow.Credential
	if err := sqlx.SelectContext(ctx, s.c.Read, &rows,
		s.q(`SELECT `+sqlrow.CredentialCols+` FROM credentials WHERE app_id = ? AND id > ? ORDER BY id`+sqlrow.LimitClause(p.Limit)), appID, p.After); err != nil {
		return nil, fmt.Errorf("list credentials of app %q: %w", appID, s.c.MapError(err))
	}
	out := make([]*engine.Credential, len(rows))
	for i := range rows {
		c, err := rows[i].Engine()
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func (s *Store) GetCredentialByClientID(ctx context.Context, clientID string) (*engine.Credential, error) {
	if clientID == "" {
		return nil, sqlrow.NotFound("credential with client id", clientID)
	}
	var r sqlrow.Credential
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.CredentialCols+` FROM credentials WHERE client_id = ?`), clientID); err != nil {
		return nil, fmt.Errorf("get credential with client id %q: %w", clientID, s.c.MapError(err))
	}
	return r.Engine()
}

func (s *Store) RevokeCredential(ctx context.Context, p engine.RevokeCredentialParams) ([]string, error) {
	var deleted []string
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		// A credential revoked before keeps the time it was first revoked.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`),
			sqlrow.ToMS(p.At), p.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return engine.ErrNotFound
		}
		if !p.DeleteSubscriptions {
			return nil
		}
		// Their deliveries and attempts go with them (ON DELETE CASCADE).
		return tx.SelectContext(ctx, &deleted, s.q(`DELETE FROM subscriptions WHERE credential_id = ? RETURNING id`), p.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("revoke credential %q: %w", p.ID, s.c.MapError(err))
	}
	slices.Sort(deleted)
	return deleted, nil
}
