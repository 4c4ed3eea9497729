package sqlite

import (
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/api/compat/quicklysign"
	"github.com/switchyard/switchyard/engine"
)

var _ quicklysign.Store = (*Store)(nil)

// callbackLogSQL reads a page of a subscription's deliveries through deliveries_subscription
// (subscription_id, id), with each one's event type and entity by the events' primary key.
const callbackLogSQL = `SELECT d.id, d.event_id, d.subscription_id, d.app_id, d.kind, d.state, d.attempts,
		d.next_attempt_at, d.lease_until, d.last_status, d.last_error, d.created_at, d.updated_at,
		COALESCE(e.type, '') AS event_type, COALESCE(e.entity_id, '') AS event_entity_id
	FROM deliveries d LEFT JOIN events e ON e.id = d.event_id
	WHERE d.subscription_id = ? AND d.id < ?
	ORDER BY d.id DESC
	LIMIT ?`

// callbackAttemptsSQL reads the attempts of a page of deliveries by the attempts' primary key, in
// its order (ListCallbacks reverses each delivery's), cutting each response body to an excerpt in
// SQL so the rest is never read out.
const callbackAttemptsSQL = `SELECT delivery_id, number, started_at, duration_ms, response_status,
		CASE WHEN length(response_body) > ? THEN substr(response_body, 1, ?) || '…' ELSE response_body END AS response_body,
		outcome, error
	FROM attempts WHERE delivery_id IN (?)
	ORDER BY delivery_id, number`

type callbackRow struct {
	deliveryRow
	EventType     string `db:"event_type"`
	EventEntityID string `db:"event_entity_id"`
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
func (s *Store) ListCallbacks(ctx context.Context, q quicklysign.CallbackQuery) ([]*quicklysign.Callback, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("list callbacks: a limit is required")
	}
	before := q.Before
	if before == "" {
		// Every ID sorts before this: IDs are a prefix, '_' and base32 digits.
		before = "\U0010FFFF"
	}
	var rows []callbackRow
	if err := s.r.SelectContext(ctx, &rows, callbackLogSQL, q.SubscriptionID, before, q.Limit); err != nil {
		return nil, fmt.Errorf("list callbacks of subscription %q: %w", q.SubscriptionID, MapError(err))
	}
	out := make([]*quicklysign.Callback, len(rows))
	byID := make(map[string]*quicklysign.Callback, len(rows))
	ids := make([]string, len(rows))
	for i := range rows {
		out[i] = &quicklysign.Callback{Delivery: rows[i].delivery(), EventType: rows[i].EventType, EntityID: rows[i].EventEntityID}
		byID[rows[i].ID] = out[i]
		ids[i] = rows[i].ID
	}
	excerpt := max(q.ExcerptChars, 0)
	err := InChunks(ids, func(chunk []string) error {
		query, args, err := sqlx.In(callbackAttemptsSQL, excerpt, excerpt, chunk)
		if err != nil {
			return err
		}
		var attempts []callbackAttemptRow
		if err := s.r.SelectContext(ctx, &attempts, query, args...); err != nil {
			return err
		}
		for _, a := range attempts {
			cb := byID[a.DeliveryID]
			cb.Attempts = append(cb.Attempts, &engine.Attempt{
				DeliveryID: a.DeliveryID, Number: a.Number, StartedAt: FromMS(a.StartedAt), DurationMS: a.DurationMS,
				ResponseStatus: a.ResponseStatus, ResponseBody: a.ResponseBody, Outcome: a.Outcome, Error: a.Error,
			})
		}
		return nil
	})

	if err != nil {
		return nil, fmt.Errorf("list callbacks of subscription %q: attempts: %w", q.SubscriptionID, MapError(err))
	}
	for _, cb := range out {
		slices.Reverse(cb.Attempts)
	}
	return out, nil
}
