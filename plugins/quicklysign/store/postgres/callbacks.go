// Package postgres is the QuicklySign style's store on the node's PostgreSQL database, as
// plugins/quicklysign/store/sqlite is on SQLite: it reads the engine's deliveries, events and
// attempts for the callback log through the core store's pool, adds one index to the engine's
// subscriptions, and keeps the callback logs of deleted subscriptions in tables of its own, which a
// trigger on the engine's subscriptions fills (migration 0002).
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/quicklysign/store"
	core "github.com/switchyard/switchyard/store/postgres"
)

type pgStore struct {
	db *core.Store
}

var _ store.Store = (*pgStore)(nil)

// New returns the style's store on the node's database, which must have been opened with
// Migrations among its lines.
func New(db *core.Store) store.Store { return &pgStore{db: db} }

// callbackLogSQL reads a page of a subscription's deliveries through deliveries_subscription
// (subscription_id, id), with each one's event type and entity by the events' primary key.
const callbackLogSQL = `SELECT d.id, d.event_id, d.subscription_id, d.app_id, d.kind, d.state, d.attempts,
		d.next_attempt_at, d.lease_until, d.last_status, d.last_error, d.created_at, d.updated_at,
		COALESCE(e.type, '') AS event_type, COALESCE(e.entity_id, '') AS event_entity_id
	FROM deliveries d LEFT JOIN events e ON e.id = d.event_id
	WHERE d.subscription_id = $1 AND d.id < $2
	ORDER BY d.id DESC
	LIMIT $3`

// keptLogSQL is callbackLogSQL over the kept logs of deleted subscriptions, which carry their
// event's type and entity.
const keptLogSQL = `SELECT id, event_id, subscription_id, app_id, kind, state, attempts,
		next_attempt_at, NULL::bigint AS lease_until, last_status, last_error, created_at, updated_at,
		event_type, event_entity_id
	FROM quicklysign_deleted_deliveries
	WHERE subscription_id = $1 AND id < $2
	ORDER BY id DESC
	LIMIT $3`

// callbackAttemptsSQL reads the attempts of a page of deliveries by the attempts' primary key, in
// its order (ListCallbacks reverses each delivery's). A body is BYTEA, which PostgreSQL measures
// in bytes, and may not be UTF-8 at all (a receiver may answer in binary), so SQL reads only the
// first $1 bytes of each and Go cuts them to the excerpt's characters: the rest is never read out.
const callbackAttemptsSQL = `SELECT delivery_id, number, started_at, duration_ms, response_status,
		substring(response_body FROM 1 FOR $1) AS response_body, outcome, error
	FROM attempts WHERE delivery_id = ANY ($2)
	ORDER BY delivery_id, number`

// keptAttemptsSQL is callbackAttemptsSQL over the kept logs.
const keptAttemptsSQL = `SELECT delivery_id, number, started_at, duration_ms, response_status,
		substring(response_body FROM 1 FOR $1) AS response_body, outcome, error
	FROM quicklysign_deleted_attempts WHERE delivery_id = ANY ($2)
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
	ResponseBody   []byte `db:"response_body"`
	Outcome        string `db:"outcome"`
	Error          string `db:"error"`
}

// excerptBytes is how many bytes of a body hold more than n characters whenever the body has
// more: a UTF-8 character is at most 4 bytes, and a byte that is not UTF-8 counts as one.
func excerptBytes(n int) int { return 4 * (n + 1) }

// excerpt is the first n characters of body, ending with "…" when body had more, as the SQLite
// store cuts a TEXT body in SQL. body may be a prefix of excerptBytes(n) bytes of a longer one.
func excerpt(body []byte, n int) string {
	cut := 0
	for range n {
		if cut == len(body) {
			return string(body)
		}
		_, size := utf8.DecodeRune(body[cut:])
		cut += size
	}
	if cut == len(body) {
		return string(body)
	}
	return string(body[:cut]) + "…"
}

// ListCallbacks reads the callback log in two queries, whatever the page's size.
func (s *pgStore) ListCallbacks(ctx context.Context, q store.CallbackQuery) ([]*store.Callback, error) {
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
	db := s.db.DB()
	var rows []callbackRow
	if err := db.SelectContext(ctx, &rows, logSQL, q.SubscriptionID, before, q.Limit); err != nil {
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
	if len(rows) == 0 {
		return out, nil
	}
	chars := max(q.ExcerptChars, 0)
	var attempts []callbackAttemptRow
	if err := db.SelectContext(ctx, &attempts, attemptsSQL, excerptBytes(chars), ids); err != nil {
		return nil, fmt.Errorf("list callbacks of subscription %q: attempts: %w", q.SubscriptionID, core.MapError(err))
	}
	for _, a := range attempts {
		cb := byID[a.DeliveryID]
		cb.Attempts = append(cb.Attempts, &engine.Attempt{
			DeliveryID: a.DeliveryID, Number: a.Number, StartedAt: core.FromMS(a.StartedAt), DurationMS: a.DurationMS,
			ResponseStatus: a.ResponseStatus, ResponseBody: excerpt(a.ResponseBody, chars), Outcome: a.Outcome, Error: a.Error,
		})
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

func (s *pgStore) DeletedSubscription(ctx context.Context, id string) (*store.DeletedSubscription, error) {
	var row deletedRow
	err := s.db.DB().GetContext(ctx, &row, `SELECT id, app_id, account_id, api, entity_key, url, created_at, deleted_at
		FROM quicklysign_deleted_subscriptions WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("deleted subscription %q: %w", id, core.MapError(err))
	}
	return &store.DeletedSubscription{
		ID: row.ID, AppID: row.AppID, AccountID: row.AccountID, API: row.API, EntityKey: row.EntityKey, URL: row.URL,
		CreatedAt: core.FromMS(row.CreatedAt), DeletedAt: core.FromMS(row.DeletedAt),
	}, nil
}

// purgeKeptSQL are PurgeDeleted's steps, in order: each leaves the next its rows to find. Each
// removes at most purgeBatch rows, by primary key, so that one transaction stays short.
var purgeKeptSQL = []string{
	`DELETE FROM quicklysign_deleted_attempts WHERE (delivery_id, number) IN (
		SELECT delivery_id, number FROM quicklysign_deleted_attempts WHERE started_at < $1 LIMIT $2)`,
	`DELETE FROM quicklysign_deleted_deliveries WHERE id IN (
		SELECT id FROM quicklysign_deleted_deliveries d WHERE d.created_at < $1
			AND NOT EXISTS (SELECT 1 FROM quicklysign_deleted_attempts a WHERE a.delivery_id = d.id) LIMIT $2)`,
	`DELETE FROM quicklysign_deleted_subscriptions WHERE id IN (
		SELECT id FROM quicklysign_deleted_subscriptions s WHERE s.deleted_at < $1
			AND NOT EXISTS (SELECT 1 FROM quicklysign_deleted_deliveries d WHERE d.subscription_id = s.id) LIMIT $2)`,
}

const purgeBatch = 1000

func (s *pgStore) PurgeDeleted(ctx context.Context, before time.Time) (int64, error) {
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
