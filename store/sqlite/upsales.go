package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/api/compat/upsales"
	"github.com/switchyard/switchyard/engine"
)

// The Upsales style's tables (migration 0006).

var _ upsales.Store = (*Store)(nil)

const upsalesRequestCols = `id, delivery_id, app_id, account_id, subscription_id, event_id, event_type, trigger_name,
	entity_id, user_id, base_url, user_configurable, token, callback_state, callback_expires_at, callback_at,
	status, message, created_at, updated_at`

type upsalesRequestRow struct {
	ID                string          `db:"id"`
	DeliveryID        string          `db:"delivery_id"`
	AppID             string          `db:"app_id"`
	AccountID         string          `db:"account_id"`
	SubscriptionID    string          `db:"subscription_id"`
	EventID           string          `db:"event_id"`
	EventType         string          `db:"event_type"`
	Trigger           string          `db:"trigger_name"`
	EntityID          string          `db:"entity_id"`
	UserID            string          `db:"user_id"`
	BaseURL           string          `db:"base_url"`
	UserConfigurable  bool            `db:"user_configurable"`
	Token             string          `db:"token"`
	CallbackState     string          `db:"callback_state"`
	CallbackExpiresAt int64           `db:"callback_expires_at"`
	CallbackAt        sql.NullInt64   `db:"callback_at"`
	Status            sql.NullFloat64 `db:"status"`
	Message           string          `db:"message"`
	CreatedAt         int64           `db:"created_at"`
	UpdatedAt         int64           `db:"updated_at"`
}

func (r *upsalesRequestRow) entry() *upsales.LogEntry {
	e := &upsales.LogEntry{
		ID: r.ID, DeliveryID: r.DeliveryID, AppID: r.AppID, AccountID: r.AccountID, SubscriptionID: r.SubscriptionID,
		EventID: r.EventID, EventType: r.EventType, Trigger: r.Trigger, EntityID: r.EntityID, UserID: r.UserID,
		BaseURL: r.BaseURL, UserConfigurable: r.UserConfigurable, Token: r.Token,
		Callback: upsales.CallbackState(r.CallbackState), CallbackExpiresAt: FromMS(r.CallbackExpiresAt),
		CallbackAt: FromNullMS(r.CallbackAt), Message: r.Message, CreatedAt: FromMS(r.CreatedAt), UpdatedAt: FromMS(r.UpdatedAt),
	}
	if r.Status.Valid {
		v := r.Status.Float64
		e.Status = &v
	}
	return e
}

const upsalesNotificationCols = `id, log_id, app_id, account_id, user_id, message, created_at, opened_at`

type upsalesNotificationRow struct {
	ID        string        `db:"id"`
	LogID     string        `db:"log_id"`
	AppID     string        `db:"app_id"`
	AccountID string        `db:"account_id"`
	UserID    string        `db:"user_id"`
	Message   string        `db:"message"`
	CreatedAt int64         `db:"created_at"`
	OpenedAt  sql.NullInt64 `db:"opened_at"`
}

func (r *upsalesNotificationRow) notification() *upsales.Notification {
	return &upsales.Notification{ID: r.ID, LogID: r.LogID, AppID: r.AppID, AccountID: r.AccountID, UserID: r.UserID,
		Message: r.Message, CreatedAt: FromMS(r.CreatedAt), OpenedAt: FromNullMS(r.OpenedAt)}
}

func (s *Store) PrepareRequest(ctx context.Context, p upsales.PrepareParams) (*upsales.Prepared, error) {
	e := p.Entry
	out := &upsales.Prepared{}
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO upsales_requests (`+upsalesRequestCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, NULL, NULL, '', ?, ?)
			ON CONFLICT (delivery_id) DO NOTHING`,
			e.ID, e.DeliveryID, e.AppID, e.AccountID, e.SubscriptionID, e.EventID, e.EventType, e.Trigger,
			e.EntityID, e.UserID, e.BaseURL, e.UserConfigurable, e.Token, ToMS(p.ExpiresAt), ToMS(p.Now), ToMS(p.Now))
		if err != nil {
			return err
		}
		// A retry sends the callback URL again: it is open for another full term, unless used.
		if _, err := tx.ExecContext(ctx, `UPDATE upsales_requests SET callback_state = 'open', callback_expires_at = ?
			WHERE delivery_id = ? AND callback_state IN ('open', 'expired')`, ToMS(p.ExpiresAt), e.DeliveryID); err != nil {
			return err
		}
		var r upsalesRequestRow
		if err := tx.GetContext(ctx, &r, `SELECT `+upsalesRequestCols+` FROM upsales_requests WHERE delivery_id = ?`, e.DeliveryID); err != nil {
			return err
		}
		out.Entry = r.entry()
		if u := p.User; u != nil && u.ID != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO upsales_users (account_id, user_id, name, email, last_seen_at)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (account_id, user_id) DO UPDATE SET name = excluded.name, email = excluded.email,
					last_seen_at = MAX(last_seen_at, excluded.last_seen_at)`,
				out.Entry.AccountID, u.ID, u.Name, u.Email, ToMS(p.Now)); err != nil {
				return err
			}
		}
		if out.AppData, err = appData(ctx, tx, out.Entry.AppID, out.Entry.AccountID, ""); err != nil {
			return err
		}
		if out.Entry.UserConfigurable && out.Entry.UserID != "" {
			out.UserAppData, err = appData(ctx, tx, out.Entry.AppID, out.Entry.AccountID, out.Entry.UserID)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("prepare upsales request of delivery %q: %w", e.DeliveryID, MapError(err))
	}
	return out, nil
}

func appData(ctx context.Context, q sqlx.QueryerContext, appID, accountID, userID string) (json.RawMessage, error) {
	var data string
	err := sqlx.GetContext(ctx, q, &data, `SELECT data FROM upsales_app_data WHERE app_id = ? AND account_id = ? AND user_id = ?`,
		appID, accountID, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return json.RawMessage(data), nil
}

func (s *Store) GetAppData(ctx context.Context, appID, accountID, userID string) (json.RawMessage, error) {
	data, err := appData(ctx, s.r, appID, accountID, userID)
	if err != nil {
		return nil, fmt.Errorf("get upsales app data: %w", MapError(err))
	}
	return data, nil
}

func (s *Store) ApplyCallback(ctx context.Context, p upsales.ApplyParams) (*upsales.Applied, error) {
	out := &upsales.Applied{}
	via, where, key := upsales.CallbackDeferred, "token", p.Token
	if p.DeliveryID != "" {
		via, where, key = upsales.CallbackSync, "delivery_id", p.DeliveryID
	}
	cb := p.Callback
	now := ToMS(p.Now)
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		var r upsalesRequestRow
		if err := tx.GetContext(ctx, &r, `SELECT `+upsalesRequestCols+` FROM upsales_requests WHERE `+where+` = ?`, key); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("no request has this callback: %w", engine.ErrNotFound)
			}
			return err
		}
		// Spending the callback is one conditional write, so that of two callers for the same
		// request exactly one gets the row, whatever the driver's locking.
		var message sql.NullString
		if cb.Message != nil {
			message = sql.NullString{String: *cb.Message, Valid: true}
		}
		res, err := tx.ExecContext(ctx, `UPDATE upsales_requests
			SET callback_state = ?, callback_at = ?, status = ?, message = COALESCE(?, message), updated_at = ?
			WHERE id = ? AND (
				(callback_state = 'open' AND callback_expires_at > ?) OR
				(? = 'sync' AND callback_state IN ('open', 'expired')))`,
			string(via), now, cb.Status, message, now, r.ID, now, string(via))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return spentError(&r, p.Now)
		}
		if err := tx.GetContext(ctx, &r, `SELECT `+upsalesRequestCols+` FROM upsales_requests WHERE id = ?`, r.ID); err != nil {
			return err
		}
		out.Entry = r.entry()

		if cb.AppData != nil {
			if err := saveAppData(ctx, tx, p, r.AppID, r.AccountID, "", cb.AppData); err != nil {
				return err
			}
		}
		if cb.UserAppData != nil {
			if r.UserConfigurable && r.UserID != "" {
				if err := saveAppData(ctx, tx, p, r.AppID, r.AccountID, r.UserID, cb.UserAppData); err != nil {
					return err
				}
			} else {
				out.Ignored = append(out.Ignored, "userAppData")
			}
		}
		if cb.Notify != "" {
			recipients, err := notificationRecipients(ctx, tx, &r, cb)
			if err != nil {
				return err
			}
			for _, user := range recipients {
				n := &upsales.Notification{ID: p.NewID(), LogID: r.ID, AppID: r.AppID, AccountID: r.AccountID,
					UserID: user, Message: cb.Notify, CreatedAt: p.Now}
				if _, err := tx.ExecContext(ctx, `INSERT INTO upsales_notifications (`+upsalesNotificationCols+`)
					VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`, n.ID, n.LogID, n.AppID, n.AccountID, n.UserID, n.Message, now); err != nil {
					return err
				}
				out.Notifications = append(out.Notifications, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply upsales callback: %w", MapError(err))
	}
	return out, nil
}

// spentError says why a request's callback can no longer be applied.
func spentError(r *upsalesRequestRow, now time.Time) error {
	switch upsales.CallbackState(r.CallbackState) {
	case upsales.CallbackSync:
		return fmt.Errorf("the app already answered this request with a callback: %w", upsales.ErrCallbackUsed)
	case upsales.CallbackDeferred:
		return fmt.Errorf("a callback was already posted to it: %w", upsales.ErrCallbackUsed)
	}
	return fmt.Errorf("it was open until %s: %w", FromMS(r.CallbackExpiresAt).Format(time.RFC3339), upsales.ErrCallbackExpired)
}

func saveAppData(ctx context.Context, tx *sqlx.Tx, p upsales.ApplyParams, appID, accountID, userID string, patch json.RawMessage) error {
	saved, err := appData(ctx, tx, appID, accountID, userID)
	if err != nil {
		return err
	}
	merged, err := p.Merge(saved, patch)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO upsales_app_data (app_id, account_id, user_id, data, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app_id, account_id, user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		appID, accountID, userID, string(merged), ToMS(p.Now))
	return err
}

// notificationRecipients are the users a callback's notification goes to: the user who started the
// run, unless notifyUserIds or notifyAll name others; notifyAll means every user the account's
// events have named, and the IDs notifyUserIds adds. Each gets one notification.
func notificationRecipients(ctx context.Context, tx *sqlx.Tx, r *upsalesRequestRow, cb *upsales.Callback) ([]string, error) {
	var users []string
	if cb.NotifyAll {
		if err := tx.SelectContext(ctx, &users, `SELECT user_id FROM upsales_users WHERE account_id = ? ORDER BY user_id`, r.AccountID); err != nil {
			return nil, err
		}
	}
	users = append(users, cb.NotifyUserIDs...)
	if !cb.NotifyAll && len(cb.NotifyUserIDs) == 0 && r.UserID != "" {
		users = append(users, r.UserID)
	}
	seen := map[string]bool{}
	out := users[:0]
	for _, u := range users {
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

func (s *Store) GetLogEntry(ctx context.Context, id string) (*upsales.LogEntry, error) {
	var r upsalesRequestRow
	if err := s.r.GetContext(ctx, &r, `SELECT `+upsalesRequestCols+` FROM upsales_requests WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("get log entry %q: %w", id, MapError(err))
	}
	return r.entry(), nil
}

func (s *Store) ListLogEntries(ctx context.Context, f upsales.LogFilter) ([]*upsales.LogEntry, error) {
	q := `SELECT ` + upsalesRequestCols + ` FROM upsales_requests WHERE 1 = 1`
	var args []any
	if f.AppID != "" {
		q += ` AND app_id = ?`
		args = append(args, f.AppID)
	}
	if f.AccountID != "" {
		q += ` AND account_id = ?`
		args = append(args, f.AccountID)
	}
	if f.Before != "" {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	var rows []upsalesRequestRow
	if err := s.r.SelectContext(ctx, &rows, q+` ORDER BY id DESC`+LimitClause(f.Limit), args...); err != nil {
		return nil, fmt.Errorf("list log entries: %w", MapError(err))
	}
	out := make([]*upsales.LogEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].entry()
	}
	return out, nil
}

func (s *Store) GetNotification(ctx context.Context, id string) (*upsales.Notification, error) {
	var r upsalesNotificationRow
	if err := s.r.GetContext(ctx, &r, `SELECT `+upsalesNotificationCols+` FROM upsales_notifications WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("get notification %q: %w", id, MapError(err))
	}
	return r.notification(), nil
}

func (s *Store) ListNotifications(ctx context.Context, f upsales.NotificationFilter) ([]*upsales.Notification, error) {
	q := `SELECT ` + upsalesNotificationCols + ` FROM upsales_notifications WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, v string }{{"app_id", f.AppID}, {"account_id", f.AccountID}, {"user_id", f.UserID}} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if f.Before != "" {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	var rows []upsalesNotificationRow
	if err := s.r.SelectContext(ctx, &rows, q+` ORDER BY id DESC`+LimitClause(f.Limit), args...); err != nil {
		return nil, fmt.Errorf("list notifications: %w", MapError(err))
	}
	out := make([]*upsales.Notification, len(rows))
	for i := range rows {
		out[i] = rows[i].notification()
	}
	return out, nil
}

func (s *Store) MarkNotificationOpened(ctx context.Context, id string, at time.Time) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE upsales_notifications SET opened_at = COALESCE(opened_at, ?) WHERE id = ?`, ToMS(at), id)
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
		return fmt.Errorf("mark notification %q opened: %w", id, MapError(err))
	}
	return nil
}

func (s *Store) ExpireCallbacks(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE upsales_requests SET callback_state = 'expired', updated_at = ?
			WHERE callback_state = 'open' AND callback_expires_at <= ?`, ToMS(now), ToMS(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire upsales callbacks: %w", MapError(err))
	}
	return n, nil
}

func (s *Store) PurgeLogEntries(ctx context.Context, before time.Time) (int64, error) {
	return s.purgeBatches(ctx, "upsales_requests", before)
}

func (s *Store) PurgeNotifications(ctx context.Context, before time.Time) (int64, error) {
	return s.purgeBatches(ctx, "upsales_notifications", before)
}

// purgeBatches deletes a table's rows created before a time, in batches like PurgeAttempts, so a
// large purge never holds the writer for long.
func (s *Store) purgeBatches(ctx context.Context, table string, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id IN (SELECT id FROM `+table+` WHERE created_at < ? LIMIT ?)`,
				ToMS(before), s.purgeBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", table, MapError(err))
		}
		total += n
		if n < int64(s.purgeBatch) {
			return total, nil
		}
	}
}
