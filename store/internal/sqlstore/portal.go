package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

const portalCols = `id, kind, app_id, secret_hash, created_at, expires_at, used_at`

type portalRow struct {
	ID         string        `db:"id"`
	Kind       string        `db:"kind"`
	AppID      string        `db:"app_id"`
	SecretHash []byte        `db:"secret_hash"`
	CreatedAt  int64         `db:"created_at"`
	ExpiresAt  int64         `db:"expires_at"`
	UsedAt     sql.NullInt64 `db:"used_at"`
}

func (r *portalRow) engine() *engine.Portal {
	return &engine.Portal{
		ID: r.ID, Kind: engine.PortalKind(r.Kind), AppID: r.AppID, SecretHash: r.SecretHash,
		CreatedAt: sqlrow.FromMS(r.CreatedAt), ExpiresAt: sqlrow.FromMS(r.ExpiresAt), UsedAt: sqlrow.FromNullMS(r.UsedAt),
	}
}

// refusal carries the caller's own error out of a transaction, past MapError and the wrapping.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// lockPortalApp takes the app's row for the rest of tx where transactions run at once: every
// write to an app's portal entries takes it first, so that the bound counts what another node
// inserts meanwhile, and a revocation waits for an exchange in progress and deletes its session.
func (s *Store) lockPortalApp(ctx context.Context, tx *sqlx.Tx, appID string) error {
	var ids []string
	if err := tx.SelectContext(ctx, &ids, s.q(`SELECT id FROM apps WHERE id = ?`+s.c.ForUpdate), appID); err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("app %s does not exist: %w", appID, engine.ErrInvalid)
	}
	return nil
}

// insertPortal stores p after dropping the oldest of its app's live entries of its kind that
// would leave more than max with it.
func (s *Store) insertPortal(ctx context.Context, tx *sqlx.Tx, p *engine.Portal, max int, now time.Time) error {
	if max > 0 {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM portal_entries WHERE app_id = ? AND kind = ? AND expires_at > ?
			AND id NOT IN (SELECT id FROM portal_entries WHERE app_id = ? AND kind = ? AND expires_at > ? ORDER BY created_at DESC, id DESC LIMIT ?)`),
			p.AppID, string(p.Kind), sqlrow.ToMS(now), p.AppID, string(p.Kind), sqlrow.ToMS(now), max-1); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO portal_entries (`+portalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		p.ID, string(p.Kind), p.AppID, p.SecretHash, sqlrow.ToMS(p.CreatedAt), sqlrow.ToMS(p.ExpiresAt), sqlrow.ToNullMS(p.UsedAt))
	return err
}

func (s *Store) CreatePortal(ctx context.Context, p engine.CreatePortalParams) error {
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockPortalApp(ctx, tx, p.Portal.AppID); err != nil {
			return err
		}
		return s.insertPortal(ctx, tx, p.Portal, p.Max, p.Now)
	})
	if err != nil {
		return fmt.Errorf("create portal %s for app %q: %w", p.Portal.Kind, p.Portal.AppID, s.c.MapError(err))
	}
	return nil
}

func (s *Store) ExchangePortalLink(ctx context.Context, p engine.ExchangePortalParams) (*engine.Portal, error) {
	var link *engine.Portal
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		// The app first, then the link, in the order a revocation takes them.
		var apps []string
		if err := tx.SelectContext(ctx, &apps, s.q(`SELECT app_id FROM portal_entries WHERE id = ? AND kind = ?`), p.LinkID, string(engine.PortalLink)); err != nil {
			return err
		}
		if len(apps) == 0 {
			return engine.ErrNotFound
		}
		if err := s.lockPortalApp(ctx, tx, apps[0]); err != nil {
			return err
		}
		var r portalRow
		if err := tx.GetContext(ctx, &r, s.q(`SELECT `+portalCols+` FROM portal_entries WHERE id = ? AND kind = ?`+s.c.ForUpdate), p.LinkID, string(engine.PortalLink)); err != nil {
			return err // revoked meanwhile: no rows, ErrNotFound
		}
		link = r.engine()
		if err := p.Check(link); err != nil {
			return refusal{err}
		}
		// The condition, not the read above, is what makes the link single-use: of two exchanges
		// that both read it unused, only one changes the row.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE portal_entries SET used_at = ? WHERE id = ? AND used_at IS NULL`), sqlrow.ToMS(p.Now), p.LinkID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("the portal link was used already: %w", engine.ErrConflict)
		}
		p.Session.AppID = link.AppID
		return s.insertPortal(ctx, tx, p.Session, p.Max, p.Now)
	})
	if r := (refusal{}); errors.As(err, &r) {
		return nil, r.err
	}
	if err != nil {
		return nil, fmt.Errorf("exchange portal link %q: %w", p.LinkID, s.c.MapError(err))
	}
	return link, nil
}

func (s *Store) GetPortal(ctx context.Context, id string) (*engine.Portal, error) {
	var r portalRow
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+portalCols+` FROM portal_entries WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("portal entry %q: %w", id, s.c.MapError(err))
	}
	return r.engine(), nil
}

func (s *Store) RevokePortal(ctx context.Context, appID string) (int64, error) {
	var n int64
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockPortalApp(ctx, tx, appID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM portal_entries WHERE app_id = ?`), appID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke the portal sessions of app %q: %w", appID, s.c.MapError(err))
	}
	return n, nil
}

func (s *Store) PurgePortal(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM portal_entries WHERE expires_at <= ?`), sqlrow.ToMS(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge portal entries: %w", s.c.MapError(err))
	}
	return n, nil
}
