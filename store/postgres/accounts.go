package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
)

func (s *Store) CreateAccount(ctx context.Context, a *engine.Account) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, rebind(`INSERT INTO accounts (`+accountCols+`) VALUES (?, ?, ?, ?)`),
			a.ID, a.Name, ToMS(a.CreatedAt), nullInt(a.ExternalID))
		return err
	})
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.ID, MapError(err))
	}
	return nil
}

func (s *Store) GetAccount(ctx context.Context, id string) (*engine.Account, error) {
	var r accountRow
	if err := s.db.GetContext(ctx, &r, rebind(`SELECT `+accountCols+` FROM accounts WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get account %q: %w", id, MapError(err))
	}
	return r.account(), nil
}

func (s *Store) ListAccounts(ctx context.Context, p engine.Page) ([]*engine.Account, error) {
	var rows []accountRow
	err := s.db.SelectContext(ctx, &rows,
		rebind(`SELECT `+accountCols+` FROM accounts WHERE id > ? ORDER BY id`+LimitClause(p.Limit)), p.After)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", MapError(err))
	}
	out := make([]*engine.Account, len(rows))
	for i := range rows {
		out[i] = rows[i].account()
	}
	return out, nil
}

func (s *Store) CreateApp(ctx context.Context, a *engine.App) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, rebind(`INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
			a.ID, a.Name, a.URL, a.Secret, ToMS(a.CreatedAt), nullInt(a.ExternalID))
		return err
	})
	if err != nil {
		return fmt.Errorf("create app %q: %w", a.ID, MapError(err))
	}
	return nil
}

func (s *Store) GetApp(ctx context.Context, id string) (*engine.App, error) {
	var r appRow
	if err := s.db.GetContext(ctx, &r, rebind(`SELECT `+appCols+` FROM apps WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get app %q: %w", id, MapError(err))
	}
	return r.app(), nil
}

func (s *Store) ListApps(ctx context.Context, p engine.Page) ([]*engine.App, error) {
	var rows []appRow
	err := s.db.SelectContext(ctx, &rows,
		rebind(`SELECT `+appCols+` FROM apps WHERE id > ? ORDER BY id`+LimitClause(p.Limit)), p.After)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", MapError(err))
	}
	out := make([]*engine.App, len(rows))
	for i := range rows {
		out[i] = rows[i].app()
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
	err = s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, rebind(`INSERT INTO credentials (`+credentialCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.AppID, toNullString(c.AccountID), string(c.Kind), toNullString(c.ClientID), string(scopes),
			c.Primary, hash, ToMS(c.CreatedAt), ToNullMS(c.RevokedAt), c.AllAccounts)
		return err
	})
	if err != nil {
		return fmt.Errorf("create credential %q: %w", c.ID, MapError(err))
	}
	return nil
}

func (s *Store) GetCredential(ctx context.Context, id string) (*engine.Credential, error) {
	var r credentialRow
	if err := s.db.GetContext(ctx, &r, rebind(`SELECT `+credentialCols+` FROM credentials WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get credential %q: %w", id, MapError(err))
	}
	return r.credential()
}

// ListCredentials reads an app's credentials in ID order: the operator's list, a page at a time.
func (s *Store) ListCredentials(ctx context.Context, appID string, p engine.Page) ([]*engine.Credential, error) {
	var rows []credentialRow
	if err := s.db.SelectContext(ctx, &rows,
		rebind(`SELECT `+credentialCols+` FROM credentials WHERE app_id = ? AND id > ? ORDER BY id`+LimitClause(p.Limit)), appID, p.After); err != nil {
		return nil, fmt.Errorf("list credentials of app %q: %w", appID, MapError(err))
	}
	out := make([]*engine.Credential, len(rows))
	for i := range rows {
		c, err := rows[i].credential()
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func (s *Store) GetCredentialByClientID(ctx context.Context, clientID string) (*engine.Credential, error) {
	if clientID == "" {
		return nil, notFound("credential with client id", clientID)
	}
	var r credentialRow
	if err := s.db.GetContext(ctx, &r, rebind(`SELECT `+credentialCols+` FROM credentials WHERE client_id = ?`), clientID); err != nil {
		return nil, fmt.Errorf("get credential with client id %q: %w", clientID, MapError(err))
	}
	return r.credential()
}

func (s *Store) RevokeCredential(ctx context.Context, p engine.RevokeCredentialParams) ([]string, error) {
	var deleted []string
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		// A credential revoked before keeps the time it was first revoked.
		res, err := tx.ExecContext(ctx, rebind(`UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`),
			ToMS(p.At), p.ID)
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
		return tx.SelectContext(ctx, &deleted, rebind(`DELETE FROM subscriptions WHERE credential_id = ? RETURNING id`), p.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("revoke credential %q: %w", p.ID, MapError(err))
	}
	slices.Sort(deleted)
	return deleted, nil
}
