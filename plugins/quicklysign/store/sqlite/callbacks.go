// Package sqlite is the QuicklySign style's store on the node's SQLite database. It reads the
// engine's deliveries, events and attempts for the callback log, through the core store's reader
// pool, and adds one index to the engine's subscriptions. Its own tables keep the callback logs of
// deleted subscriptions, which a trigger on the engine's subscriptions fills (migration 0002).
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/quicklysign/store"
	core "github.com/switchyard/switchyard/store/sqlite"
)

type sqliteStore struct {
	db *core.Store
}

var _ store.Store = (*sqliteStore)(nil)

// New returns the style's store on the node's database, which must have been opened with
// Migrations among its lines.
func New(db *core.Store) store.Store { return &sqliteStore{db: db} }

// callbackLogSQL reads a page of a subscription's deliveries through deliveries_subscription
// (subscription_id, id), with each one's event type and entity by the events' primary key.
const callbackLogSQL = `SELECT d.id, d.event_id, d.subscription_id, d.app_id, d.kind, d.state, d.attempts,
		d.next_attempt_at, d.lease_until, d.last_status, d.last_error, d.created_at, d.updated_at,
		COALESCE(e.type, '') AS event_type, COALESCE(e.entity_id, '') AS event_entity_id
	FROM deliveries d LEFT JOIN events e ON e.id = d.event_id
	WHERE d.subscription_id = ? AND d.id < ?
	ORDER BY d.id DESC
	LIMIT ?`

// keptLogSQL is callbackLogSQL over the kept logs of deleted subscriptions, which carry their
// event's type and entity.
const keptLogSQL = `SELECT id, event_id, subscription_id, app_id, kind, state, attempts,
		next_attempt_at, NULL AS lease_until, last_status, last_error, created_at, updated_at,
		event_type, event_entity_id
	FROM quicklysign_deleted_deliveries
	WHERE subscription_id = ? AND id < ?
	ORDER BY id DESC
	LIMIT ?`

// keptAttemptsSQL is callbackAttemptsSQL over the kept logs.
const keptAttemptsSQL = `SELECT delivery_id, number, started_at, duration_ms, response_status,
		CASE WHEN length(response_body) > ? THEN substr(response_body, 1, ?) || '…' ELSE response_body END AS response_body,
		outcome, error
	FROM quicklysign_deleted_attempts WHERE delivery_id IN (?)
	ORDER BY delivery_id, number`

// callbackAttemptsSQL reads the attempts of a page of deliveries by the attempts' primary key, in
// its order (ListCallbacks reverses each delivery's), cutting each response body to an excerpt in
// SQL so the rest is never read out.
const callbackAttemptsSQL = `SELECT delivery_id, number, started_at, duration_ms, response_status,
		CASE WHEN length(response_body) > ? THEN substr(response_body, 1, ?) || '…' ELSE response_body END AS response_body,
		outcome, error
	FROM attempts WHERE delivery_id IN (?)
	ORDER BY delivery_id, number`

// callbackRow is a row of callbackLogSQL: a delivery and its event. The row types are the style's
// own, so that the core store keeps its private ones private.
type callbackRow struct {
	ID             string         `db:"id"`
	EventID        sql.NullString `db:"event_id"`
	SubscriptionID string         `db:"subscription_id"`
	AppID          string         `db:"app_id"`
	Kind           string         `db:"kind"`
	State          string         `db:"state"`
	Attempts       int            `db:"attempts"`
	NextAttemptAt  int64          `db:"next_attempt_at"`
	LeaseUntil     sql.NullInt64  `db:"lease_until"`
	LastStatus     int            `db:"last_status"`
	LastError      string         `db:"last_error"`
	CreatedAt      int64          `db:"created_at"`
	UpdatedAt      int64          `db:"updated_at"`
	EventType      string         `db:"event_type"`
	EventEntityID  string         `db:"event_entity_id"`
}

func (r *callbackRow) callback() *store.Callback {
	return &store.Callback{
		Delivery: &engine.Delivery{
			ID: r.ID, EventID: r.EventID.String, SubscriptionID: r.SubscriptionID, AppID: r.AppID,
			Kind: engine.DeliveryKind(r.Kind), State: engine.DeliveryState(r.State), Attempts: r.Attempts,
			NextAttemptAt: core.FromMS(r.NextAttemptAt), LeaseUntil: core.FromNullMS(r.LeaseUntil),
			LastStatus: r.LastStatus, LastError: r.LastError,
			CreatedAt: core.FromMS(r.CreatedAt), UpdatedAt: core.FromMS(r.UpdatedAt),
		},
		EventType: r.EventType,
		EntityID:  r.EventEntityID,
	}
}

type callbackAttemptRow struct {
	DeliveryID     string `db:"delivery_id"`
	Number         int    `db:"number"`
	StartedAt      int64  `db:"started_at"`
	DurationMS     int64  `db:"duration_ms"`
	ResponseStatus int    `db:"response_status"`
	ResponseBody   string `db:"response_body"`
	Outcome        string `db:"outcome"`
	Error          string `db:"error"`
}

// ListCallbacks reads the callback log in two queries, whatever the page's size.
func (s *sqliteStore) ListCallbacks(ctx context.Context, q store.CallbackQuery) ([]*store.Callback, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("list callbacks: a limit is required")
	}
	before := q.Before
	if before == "" {
		// Every ID sorts before this: IDs are a prefix, '_' and base32 digits.
		before = "\U0010FFFF"
	}
	logSQL, attemptsSQL := callbackLogSQL, callbackAttemptsSQL
	if q.Deleted {
		logSQL, attemptsSQL = keptLogSQL, keptAttemptsSQL
	}
	r := s.db.Reader()
	var rows []callbackRow
	if err := r.SelectContext(ctx, &rows, logSQL, q.SubscriptionID, before, q.Limit); err != nil {
		return nil, fmt.Errorf("list callbacks of subscription %q: %w", q.SubscriptionID, core.MapError(err))
	}
	out := make([]*store.Callback, len(rows))
	byID := make(map[string]*store.Callback, len(rows))
	ids := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].callback()
		byID[rows[i].ID] = out[i]
		ids[i] = rows[i].ID
	}
	excerpt := max(q.ExcerptChars, 0)
	err := core.InChunks(ids, func(chunk []string) error {
		query, args, err := sqlx.In(attemptsSQL, excerpt, excerpt, chunk)
		if err != nil {
			return err
		}
		var attempts []callbackAttemptRow
		if err := r.SelectContext(ctx, &attempts, query, args...); err != nil {
			return err
		}
		for _, a := range attempts {
			cb := byID[a.DeliveryID]
			cb.Attempts = append(cb.Attempts, &engine.Attempt{
				DeliveryID: a.DeliveryID, Number: a.Number, StartedAt: core.FromMS(a.StartedAt), DurationMS: a.DurationMS,
				ResponseStatus: a.ResponseStatus, ResponseBody: a.ResponseBody, Outcome: a.Outcome, Error: a.Error,
			})
		}
		return nil
	})

	if err != nil {
		return nil, fmt.Errorf("list callbacks of subscription %q: attempts: %w", q.SubscriptionID, core.MapError(err))
	}
	for _, cb := range out {
		slices.Reverse(cb.Attempts)
	}
	return out, nil
}

type deletedRow struct {
	ID        string `db:"id"`
	AppID     string `db:"app_id"`
	AccountID string `db:"account_id"`
	API       string `db:"api"`
	EntityKey string `db:"entity_key"`
	URL       string `db:"url"`
	CreatedAt int64  `db:"created_at"`
	DeletedAt int64  `db:"deleted_at"`
}

func (s *sqliteStore) DeletedSubscription(ctx context.Context, id string) (*store.DeletedSubscription, error) {
	var row deletedRow
	err := s.db.Reader().GetContext(ctx, &row, `SELECT id, app_id, account_id, api, entity_key, url, created_at, deleted_at
		FROM quicklysign_deleted_subscriptions WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("deleted subscription %q: %w", id, core.MapError(err))
	}
	return &store.DeletedSubscription{
		ID: row.ID, AppID: row.AppID, AccountID: row.AccountID, API: row.API, EntityKey: row.EntityKey, URL: row.URL,
		CreatedAt: core.FromMS(row.CreatedAt), DeletedAt: core.FromMS(row.DeletedAt),
	}, nil
}

// purgeKeptSQL are PurgeDeleted's steps, in order: each leaves the next its rows to find. Each
// removes at most purgeBatch rows, so one transaction holds the write lock briefly.
var purgeKeptSQL = []string{
	`DELETE FROM quicklysign_deleted_attempts WHERE rowid IN (
		SELECT rowid FROM quicklysign_deleted_attempts WHERE started_at < ? LIMIT ?)`,
	`DELETE FROM quicklysign_deleted_deliveries WHERE rowid IN (
		SELECT rowid FROM quicklysign_deleted_deliveries d WHERE d.created_at < ?
			AND NOT EXISTS (SELECT 1 FROM quicklysign_deleted_attempts a WHERE a.delivery_id = d.id) LIMIT ?)`,
	`DELETE FROM quicklysign_deleted_subscriptions WHERE rowid IN (
		SELECT rowid FROM quicklysign_deleted_subscriptions s WHERE s.deleted_at < ?
			AND NOT EXISTS (SELECT 1 FROM quicklysign_deleted_deliveries d WHERE d.subscription_id = s.id) LIMIT ?)`,
}

const purgeBatch = 1000

func (s *sqliteStore) PurgeDeleted(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range purgeKeptSQL {
		for {
			var n int64
			err := s.db.Write(ctx, func(tx *sqlx.Tx) error {
				res, err := tx.ExecContext(ctx, q, core.ToMS(before), purgeBatch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return total, fmt.Errorf("purge the kept callback logs: %w", core.MapError(err))
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	return total, nil
}
