package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/upsales/store"
	core "github.com/switchyard/switchyard/store/sqlite"
)

// purgeBatch is how many rows a purge deletes per transaction, as the core's purge of attempts
// does, so that a large purge never holds the one writer for long.
const purgeBatch = 5000

// db is the Upsales store on the node's database: its tables (Migrations) in the same file as the
// engine's, written through the core store's one writer and read from its reader pool.
type db struct {
	node *core.Store
	r    *sqlx.DB
}

var _ store.Store = (*db)(nil)

// New returns the Upsales store on the node's database, which must have been opened with
// Migrations among its lines.
func New(c *core.Store) store.Store { return &db{node: c, r: c.Reader()} }

// hashLegacyTokens replaces the clear callback tokens older versions stored with their hashes (see
// migration 0002), so that the callback URLs already sent keep working.
func hashLegacyTokens(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, token FROM upsales_requests WHERE token_hashed = 0`)
	if err != nil {
		return err
	}
	clear := map[string]string{}
	for rows.Next() {
		var id, token string
		if err := rows.Scan(&id, &token); err != nil {
			rows.Close()
			return err
		}
		clear[id] = token
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for id, token := range clear {
		if _, err := tx.ExecContext(ctx, `UPDATE upsales_requests SET token = ?, token_hashed = 1 WHERE id = ?`,
			engine.HashToken(token), id); err != nil {
			return fmt.Errorf("hash the callback token of log entry %s: %w", id, err)
		}
	}
	return nil
}

const upsalesRequestCols = `id, delivery_id, app_id, account_id, subscription_id, event_id, event_type, trigger_name,
	entity_id, user_id, base_url, user_configurable, token, token_hashed, callback_state, callback_expires_at, callback_at,
	status, message, created_at, updated_at, callback_error`

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
	TokenHash         string          `db:"token"`
	TokenHashed       bool            `db:"token_hashed"`
	CallbackState     string          `db:"callback_state"`
	CallbackExpiresAt int64           `db:"callback_expires_at"`
	CallbackAt        sql.NullInt64   `db:"callback_at"`
	Status            sql.NullFloat64 `db:"status"`
	Message           string          `db:"message"`
	CreatedAt         int64           `db:"created_at"`
	UpdatedAt         int64           `db:"updated_at"`
	CallbackError     string          `db:"callback_error"`
}

func (r *upsalesRequestRow) entry() *store.LogEntry {
	e := &store.LogEntry{
		ID: r.ID, DeliveryID: r.DeliveryID, AppID: r.AppID, AccountID: r.AccountID, SubscriptionID: r.SubscriptionID,
		EventID: r.EventID, EventType: r.EventType, Trigger: r.Trigger, EntityID: r.EntityID, UserID: r.UserID,
		BaseURL: r.BaseURL, UserConfigurable: r.UserConfigurable, TokenHash: r.TokenHash,
		Callback: store.CallbackState(r.CallbackState), CallbackExpiresAt: core.FromMS(r.CallbackExpiresAt),
		CallbackAt: core.FromNullMS(r.CallbackAt), Message: r.Message, CallbackError: r.CallbackError, CreatedAt: core.FromMS(r.CreatedAt), UpdatedAt: core.FromMS(r.UpdatedAt),
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

func (r *upsalesNotificationRow) notification() *store.Notification {
	return &store.Notification{ID: r.ID, LogID: r.LogID, AppID: r.AppID, AccountID: r.AccountID, UserID: r.UserID,
		Message: r.Message, CreatedAt: core.FromMS(r.CreatedAt), OpenedAt: core.FromNullMS(r.OpenedAt)}
}

func (s *db) PrepareRequest(ctx context.Context, p store.PrepareParams) (*store.Prepared, error) {
	e := p.Entry
	out := &store.Prepared{}
	err := s.node.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO upsales_requests (`+upsalesRequestCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'open', ?, NULL, NULL, '', ?, ?, '')
			ON CONFLICT (delivery_id) DO NOTHING`,
			e.ID, e.DeliveryID, e.AppID, e.AccountID, e.SubscriptionID, e.EventID, e.EventType, e.Trigger,
			e.EntityID, e.UserID, e.BaseURL, e.UserConfigurable, e.TokenHash, core.ToMS(p.ExpiresAt), core.ToMS(p.Now), core.ToMS(p.Now))
		if err != nil {
			return err
		}
		// A retry sends the callback URL again: it is open for another full term, unless used.
		if _, err := tx.ExecContext(ctx, `UPDATE upsales_requests SET callback_state = 'open', callback_expires_at = ?
			WHERE delivery_id = ? AND callback_state IN ('open', 'expired')`, core.ToMS(p.ExpiresAt), e.DeliveryID); err != nil {
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
				out.Entry.AccountID, u.ID, u.Name, u.Email, core.ToMS(p.Now)); err != nil {
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
		return nil, fmt.Errorf("prepare upsales request of delivery %q: %w", e.DeliveryID, core.MapError(err))
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

func (s *db) GetAppData(ctx context.Context, appID, accountID, userID string) (json.RawMessage, error) {
	data, err := appData(ctx, s.r, appID, accountID, userID)
	if err != nil {
		return nil, fmt.Errorf("get upsales app data: %w", core.MapError(err))
	}
	return data, nil
}

func (s *db) ApplyCallback(ctx context.Context, p store.ApplyParams) (*store.Applied, error) {
	out := &store.Applied{}
	via, where, key := store.CallbackDeferred, "token", p.TokenHash
	switch {
	case p.DeliveryID != "":
		via, where, key = store.CallbackSync, "delivery_id", p.DeliveryID
	case p.LogID != "":
		where, key = "id", p.LogID
	}
	cb := p.Callback
	now := core.ToMS(p.Now)
	err := s.node.Write(ctx, func(tx *sqlx.Tx) error {
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
			if err := saveAppData(ctx, tx, p, "appData", r.AppID, r.AccountID, "", cb.AppData); err != nil {
				return err
			}
		}
		if cb.UserAppData != nil {
			if r.UserConfigurable && r.UserID != "" {
				if err := saveAppData(ctx, tx, p, "userAppData", r.AppID, r.AccountID, r.UserID, cb.UserAppData); err != nil {
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
				n := &store.Notification{ID: p.NewID(), LogID: r.ID, AppID: r.AppID, AccountID: r.AccountID,
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
		return nil, fmt.Errorf("apply upsales callback: %w", core.MapError(err))
	}
	return out, nil
}

func (s *db) RefuseCallback(ctx context.Context, deliveryID, reason string, now time.Time) (*store.LogEntry, error) {
	var r upsalesRequestRow
	err := s.node.Write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE upsales_requests SET callback_error = ?, updated_at = ? WHERE delivery_id = ?`,
			reason, core.ToMS(now), deliveryID); err != nil {
			return err
		}
		return tx.GetContext(ctx, &r, `SELECT `+upsalesRequestCols+` FROM upsales_requests WHERE delivery_id = ?`, deliveryID)
	})
	if err != nil {
		return nil, fmt.Errorf("note a refused upsales callback: %w", core.MapError(err))
	}
	return r.entry(), nil
}

// spentError says why a request's callback can no longer be applied.
func spentError(r *upsalesRequestRow, now time.Time) error {
	switch store.CallbackState(r.CallbackState) {
	case store.CallbackSync:
		return fmt.Errorf("the app already answered this request with a callback: %w", store.ErrCallbackUsed)
	case store.CallbackDeferred:
		return fmt.Errorf("a callback was already posted to it: %w", store.ErrCallbackUsed)
	}
	return fmt.Errorf("it was open until %s: %w", core.FromMS(r.CallbackExpiresAt).Format(time.RFC3339), store.ErrCallbackExpired)
}

func saveAppData(ctx context.Context, tx *sqlx.Tx, p store.ApplyParams, field, appID, accountID, userID string, patch json.RawMessage) error {
	saved, err := appData(ctx, tx, appID, accountID, userID)
	if err != nil {
		return err
	}
	merged, err := store.MergePatch(saved, patch)
	if err != nil {
		return err
	}
	if len(merged) > store.MaxAppDataBytes {
		return fmt.Errorf("%w: %w", store.ErrAppDataTooLarge, &engine.ValidationError{Field: field, Message: fmt.Sprintf(
			"merged into the %d bytes saved it would make %d, over %d (100 kb); nothing was applied: send keys as null to remove them",
			len(saved), len(merged), store.MaxAppDataBytes)})
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO upsales_app_data (app_id, account_id, user_id, data, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (app_id, account_id, user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		appID, accountID, userID, string(merged), core.ToMS(p.Now))
	return err
}

// notificationRecipients are the users a callback's notification goes to: the user who started the
// run, unless notifyUserIds or notifyAll name others; notifyAll means every user of the account (the
// platform's list of its users, and every user the account's events have named), and the IDs
// notifyUserIds adds. Each gets one notification.
func notificationRecipients(ctx context.Context, tx *sqlx.Tx, r *upsalesRequestRow, cb *store.Callback) ([]string, error) {
	var users []string
	if cb.NotifyAll {
		// Every user of the account: those the platform told Switchyard of (the engine's
		// account_users, PUT /v1/accounts/{id}/users/{user_id}), and those its events named.
		if err := tx.SelectContext(ctx, &users, `SELECT user_id FROM account_users WHERE account_id = ?
			UNION SELECT user_id FROM upsales_users WHERE account_id = ? ORDER BY user_id`, r.AccountID, r.AccountID); err != nil {
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

func (s *db) GetLogEntry(ctx context.Context, id string) (*store.LogEntry, error) {
	var r upsalesRequestRow
	if err := s.r.GetContext(ctx, &r, `SELECT `+upsalesRequestCols+` FROM upsales_requests WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("get log entry %q: %w", id, core.MapError(err))
	}
	return r.entry(), nil
}

func (s *db) ListLogEntries(ctx context.Context, f store.LogFilter) ([]*store.LogEntry, error) {
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
	if err := s.r.SelectContext(ctx, &rows, q+` ORDER BY id DESC`+core.LimitClause(f.Limit), args...); err != nil {
		return nil, fmt.Errorf("list log entries: %w", core.MapError(err))
	}
	out := make([]*store.LogEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].entry()
	}
	return out, nil
}

func (s *db) GetNotification(ctx context.Context, id string) (*store.Notification, error) {
	var r upsalesNotificationRow
	if err := s.r.GetContext(ctx, &r, `SELECT `+upsalesNotificationCols+` FROM upsales_notifications WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("get notification %q: %w", id, core.MapError(err))
	}
	return r.notification(), nil
}

func (s *db) ListNotifications(ctx context.Context, f store.NotificationFilter) ([]*store.Notification, error) {
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
	if err := s.r.SelectContext(ctx, &rows, q+` ORDER BY id DESC`+core.LimitClause(f.Limit), args...); err != nil {
		return nil, fmt.Errorf("list notifications: %w", core.MapError(err))
	}
	out := make([]*store.Notification, len(rows))
	for i := range rows {
		out[i] = rows[i].notification()
	}
	return out, nil
}

func (s *db) MarkNotificationOpened(ctx context.Context, id string, at time.Time) error {
	err := s.node.Write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE upsales_notifications SET opened_at = COALESCE(opened_at, ?) WHERE id = ?`, core.ToMS(at), id)
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
		return fmt.Errorf("mark notification %q opened: %w", id, core.MapError(err))
	}
	return nil
}

func (s *db) ExpireCallbacks(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.node.Write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE upsales_requests SET callback_state = 'expired', updated_at = ?
			WHERE callback_state = 'open' AND callback_expires_at <= ?`, core.ToMS(now), core.ToMS(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire upsales callbacks: %w", core.MapError(err))
	}
	return n, nil
}

func (s *db) PurgeLogEntries(ctx context.Context, before time.Time) (int64, error) {
	return s.purgeBatches(ctx, "upsales_requests", before)
}

func (s *db) PurgeNotifications(ctx context.Context, before time.Time) (int64, error) {
	return s.purgeBatches(ctx, "upsales_notifications", before)
}

// purgeBatches deletes a table's rows created before a time, purgeBatch rows per transaction.
func (s *db) purgeBatches(ctx context.Context, table string, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.node.Write(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id IN (SELECT id FROM `+table+` WHERE created_at < ? LIMIT ?)`,
				core.ToMS(before), purgeBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", table, core.MapError(err))
		}
		total += n
		if n < int64(purgeBatch) {
			return total, nil
		}
	}
}
