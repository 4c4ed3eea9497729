package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

const insertSubscriptionSQL = `INSERT INTO subscriptions (` + sqlrow.SubscriptionCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (s *Store) CreateSubscription(ctx context.Context, p engine.CreateSubscriptionParams) error {
	sub := p.Subscription
	j, err := sqlrow.EncodeSubscription(sub)
	if err != nil {
		return fmt.Errorf("create subscription %q: %w", sub.ID, err)
	}
	err = s.c.Write(ctx, func(tx *sqlx.Tx) error {
		if p.GrantID != "" {
			if err := s.c.GrantLive(ctx, tx, p.GrantID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(insertSubscriptionSQL),
			sub.ID, sub.AppID, sub.AccountID, sqlrow.NullIfEmpty(sub.CredentialID), sub.Format, j.Events, sub.EntityKey,
			sub.URL, j.Options, sub.Secret, sub.PreviousSecret, sqlrow.ToNullMS(sub.PreviousSecretExpiresAt),
			string(sub.State), sub.DisabledReason, j.RetryPolicy, sqlrow.ToNullMS(sub.FailingSince),
			sqlrow.NullIfEmpty(sub.ConfirmTokenHash), sub.Version, sub.MaxPerSecond, sqlrow.ToNullMS(sub.PausedAt), sqlrow.ToMS(sub.CreatedAt), sqlrow.ToMS(sub.UpdatedAt),
			sub.Ordering.OrNone(), sub.OnDead.OrContinue())
		if err != nil {
			return err
		}
		if p.Handshake != nil {
			if _, err := tx.ExecContext(ctx, s.q(sqlrow.InsertDeliverySQL), s.c.Rows.DeliveryArgs(p.Handshake)...); err != nil {
				return fmt.Errorf("handshake delivery %q: %w", p.Handshake.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create subscription %q: %w", sub.ID, s.c.MapError(err))
	}
	return nil
}

func (s *Store) GetSubscription(ctx context.Context, id string) (*engine.Subscription, error) {
	var r sqlrow.Subscription
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.SubscriptionCols+` FROM subscriptions WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get subscription %q: %w", id, s.c.MapError(err))
	}
	return r.Engine()
}

func (s *Store) GetSubscriptionByConfirmTokenHash(ctx context.Context, hash string) (*engine.Subscription, error) {
	if hash == "" {
		return nil, fmt.Errorf("get subscription by confirmation token hash: %w", engine.ErrNotFound)
	}
	var r sqlrow.Subscription
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.SubscriptionCols+` FROM subscriptions WHERE confirm_token_hash = ?`), hash); err != nil {
		return nil, fmt.Errorf("get subscription by confirmation token hash: %w", s.c.MapError(err))
	}
	return r.Engine()
}

func (s *Store) ListSubscriptions(ctx context.Context, f engine.SubscriptionFilter) ([]*engine.Subscription, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.AppID != "" {
		add("app_id = ?", f.AppID)
	}
	if f.AccountID != "" {
		add("account_id = ?", f.AccountID)
	}
	if f.Format != "" {
		add("format = ?", f.Format)
	}
	if f.EntityKey != "" {
		add("entity_key = ?", f.EntityKey)
	}
	if f.URL != "" {
		add("url = ?", f.URL)
	}
	if f.CredentialID != "" {
		add("credential_id = ?", f.CredentialID)
	}
	add("id > ?", f.After)
	q := `SELECT ` + sqlrow.SubscriptionCols + ` FROM subscriptions WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY id` + sqlrow.LimitClause(f.Limit)
	var rows []sqlrow.Subscription
	if err := sqlx.SelectContext(ctx, s.c.Read, &rows, s.q(q), args...); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", s.c.MapError(err))
	}
	return subscriptions(rows)
}

func subscriptions(rows []sqlrow.Subscription) ([]*engine.Subscription, error) {
	out := make([]*engine.Subscription, len(rows))
	for i := range rows {
		sub, err := rows[i].Engine()
		if err != nil {
			return nil, err
		}
		out[i] = sub
	}
	return out, nil
}

// UpdateSubscription replaces every field but the subscription's identity and ownership: ID,
// AppID, AccountID, CredentialID and CreatedAt stay as stored.
func (s *Store) UpdateSubscription(ctx context.Context, sub *engine.Subscription) error {
	j, err := sqlrow.EncodeSubscription(sub)
	if err != nil {
		return fmt.Errorf("update subscription %q: %w", sub.ID, err)
	}
	err = s.c.Write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE subscriptions SET
			format = ?, events = ?, entity_key = ?, url = ?, options = ?, secret = ?, previous_secret = ?,
			previous_secret_expires_at = ?, state = ?, disabled_reason = ?, retry_policy = ?,
			failing_since = ?, confirm_token_hash = ?, max_per_second = ?, paused_at = ?, ordering = ?, on_dead = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND version = ?`),
			sub.Format, j.Events, sub.EntityKey, sub.URL, j.Options, sub.Secret, sub.PreviousSecret,
			sqlrow.ToNullMS(sub.PreviousSecretExpiresAt), string(sub.State), sub.DisabledReason, j.RetryPolicy,
			sqlrow.ToNullMS(sub.FailingSince), sqlrow.NullIfEmpty(sub.ConfirmTokenHash), sub.MaxPerSecond, sqlrow.ToNullMS(sub.PausedAt),
			sub.Ordering.OrNone(), sub.OnDead.OrContinue(),
			sqlrow.ToMS(sub.UpdatedAt), sub.ID, sub.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			return nil
		}
		var exists int
		if err := tx.GetContext(ctx, &exists, s.q(`SELECT COUNT(*) FROM subscriptions WHERE id = ?`), sub.ID); err != nil {
			return err
		}
		if exists == 0 {
			return engine.ErrNotFound
		}
		return fmt.Errorf("it changed since it was read: %w", engine.ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("update subscription %q: %w", sub.ID, s.c.MapError(err))
	}
	sub.Version++
	return nil
}

func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		// Deliveries and their attempts go with it (ON DELETE CASCADE).
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM subscriptions WHERE id = ?`), id)
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
		return fmt.Errorf("delete subscription %q: %w", id, s.c.MapError(err))
	}
	return nil
}

func (s *Store) DisableFailing(ctx context.Context, p engine.DisableFailingParams) ([]string, error) {
	var ids []string
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &ids, s.q(`UPDATE subscriptions SET state = ?, disabled_reason = ?, updated_at = ?, version = version + 1
			WHERE failing_since IS NOT NULL AND failing_since < ? AND state = ?
			RETURNING id`),
			string(engine.SubscriptionDisabled), p.Reason, sqlrow.ToMS(p.Now), sqlrow.ToMS(p.FailingSince), string(engine.SubscriptionActive))
	})
	if err != nil {
		return nil, fmt.Errorf("disable failing subscriptions: %w", s.c.MapError(err))
	}
	slices.Sort(ids)
	return ids, nil
}
