package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

func (s *Store) GetDelivery(ctx context.Context, id string) (*engine.Delivery, error) {
	var r sqlrow.Delivery
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.DeliveryCols+` FROM deliveries WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get delivery %q: %w", id, s.c.MapError(err))
	}
	return r.Engine(), nil
}

func (s *Store) ListDeliveries(ctx context.Context, f engine.DeliveryFilter) ([]*engine.Delivery, error) {
	where, args := deliveryScope(f)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.SubscriptionID != "" {
		add("subscription_id = ?", f.SubscriptionID)
	}
	if f.EventID != "" {
		add("event_id = ?", f.EventID)
	}
	if f.State != "" {
		add("state = ?", string(f.State))
	}
	if f.EventType != "" {
		add("event_id IN (SELECT id FROM events WHERE type = ?)", f.EventType)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", sqlrow.ToMS(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", sqlrow.ToMS(f.Until))
	}
	if f.Before != "" {
		add("id < ?", f.Before)
	}
	q := `SELECT ` + sqlrow.DeliveryCols + ` FROM deliveries`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC` + sqlrow.LimitClause(f.Limit)
	var rows []sqlrow.Delivery
	if err := sqlx.SelectContext(ctx, s.c.Read, &rows, s.q(q), args...); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", s.c.MapError(err))
	}
	out := make([]*engine.Delivery, len(rows))
	for i := range rows {
		out[i] = rows[i].Engine()
	}
	return out, nil
}

func (s *Store) ListAttempts(ctx context.Context, deliveryID string) ([]*engine.Attempt, error) {
	var rows []sqlrow.Attempt
	if err := sqlx.SelectContext(ctx, s.c.Read, &rows,
		s.q(`SELECT `+sqlrow.AttemptCols+` FROM attempts WHERE delivery_id = ? ORDER BY number`), deliveryID); err != nil {
		return nil, fmt.Errorf("list attempts of delivery %q: %w", deliveryID, s.c.MapError(err))
	}
	out := make([]*engine.Attempt, len(rows))
	for i := range rows {
		a, err := rows[i].Engine()
		if err != nil {
			return nil, fmt.Errorf("list attempts: %w", err)
		}
		out[i] = a
	}
	return out, nil
}

// retryOneSQL makes a delivery due now; a pending one due sooner keeps its place in the queue.
const retryOneSQL = `UPDATE deliveries
	SET state = 'pending', lease_until = NULL, lease_owner = '', updated_at = ?,
		next_attempt_at = CASE WHEN state = 'pending' AND next_attempt_at < ? THEN next_attempt_at ELSE ? END
	WHERE id = ? AND state IN ('pending', 'failed', 'dead', 'skipped')
	RETURNING ` + sqlrow.DeliveryCols

func (s *Store) RetryDelivery(ctx context.Context, id string, now time.Time) (*engine.Delivery, error) {
	var r sqlrow.Delivery
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &r, s.q(retryOneSQL), sqlrow.ToMS(now), sqlrow.ToMS(now), sqlrow.ToMS(now), id)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var state string
		if err := tx.GetContext(ctx, &state, s.q(`SELECT state FROM deliveries WHERE id = ?`), id); err != nil {
			return err // ErrNoRows: not found
		}
		return engine.Conflictf("delivery %s is %s; only a pending, failed, dead or skipped delivery can be retried", id, state)
	})
	if err != nil {
		return nil, fmt.Errorf("retry delivery %q: %w", id, s.c.MapError(err))
	}
	return r.Engine(), nil
}

func (s *Store) RetryDeliveries(ctx context.Context, p engine.RetryDeliveriesParams) (int, error) {
	if len(p.States) == 0 || p.Limit <= 0 {
		return 0, nil
	}
	now := sqlrow.ToMS(p.Now)
	where, args := deliveryScope(p.Scope)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if p.SubscriptionID != "" {
		add("subscription_id = ?", p.SubscriptionID)
	}
	if !p.Since.IsZero() {
		add("created_at >= ?", sqlrow.ToMS(p.Since))
	}
	if !p.Until.IsZero() {
		add("created_at < ?", sqlrow.ToMS(p.Until))
	}
	var states []string
	var stateArgs []any
	for _, st := range p.States {
		switch st {
		case engine.DeliveryFailed, engine.DeliveryDead, engine.DeliverySkipped:
			states = append(states, "state = '"+string(st)+"'")
		case engine.DeliveryPending:
			// One already due is not retried again, so that repeating the call comes to an end.
			states = append(states, "(state = 'pending' AND next_attempt_at > ?)")
			stateArgs = append(stateArgs, now)
		default:
			return 0, fmt.Errorf("retry deliveries: state %q cannot be retried: %w", st, engine.ErrInvalid)
		}
	}
	stateCond := "(" + strings.Join(states, " OR ") + ")"
	where, args = append(where, stateCond), append(args, stateArgs...)
	// The state is asked again of each row picked, so that one claimed meanwhile is left alone.
	q := `UPDATE deliveries
		SET state = 'pending', lease_until = NULL, updated_at = ?,
			next_attempt_at = CASE WHEN state = 'pending' AND next_attempt_at < ? THEN next_attempt_at ELSE ? END
		WHERE id IN (SELECT id FROM deliveries WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ?)
		AND ` + stateCond
	args = append([]any{now, now, now}, append(append(args, p.Limit), stateArgs...)...)
	var n int64
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(q), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retry deliveries: %w", s.c.MapError(err))
	}
	return int(n), nil
}

func (s *Store) ReplaySubscription(ctx context.Context, p engine.ReplayParams) (int, error) {
	if p.NewID == nil {
		return 0, fmt.Errorf("replay subscription %q: no NewID: %w", p.SubscriptionID, engine.ErrInvalid)
	}
	n := 0
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		var appID string
		if err := tx.GetContext(ctx, &appID, s.q(`SELECT app_id FROM subscriptions WHERE id = ?`), p.SubscriptionID); err != nil {
			return err // ErrNoRows: not found
		}
		var events []replayEvent
		if err := tx.SelectContext(ctx, &events, s.q(replayEventsSQL), p.SubscriptionID, sqlrow.ToMS(p.Since)); err != nil {
			return fmt.Errorf("find events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		now := sqlrow.FromMS(sqlrow.ToMS(p.Now))
		deliveries := make([]*engine.Delivery, len(events))
		var ordered []*engine.Delivery
		for i, ev := range events {
			d := &engine.Delivery{ID: p.NewID(), EventID: ev.ID, SubscriptionID: p.SubscriptionID, AppID: appID,
				Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
			if p.OrderingKey != nil {
				if d.OrderingKey = p.OrderingKey(engine.Entity{Type: ev.EntityType, ID: ev.EntityID}); d.OrderingKey != "" {
					ordered = append(ordered, d)
				}
			}
			deliveries[i] = d
		}
		if err := AssignSequences(ctx, tx, s.c.Rebind, ordered); err != nil {
			return err
		}
		if err := s.insertDeliveries(ctx, tx, deliveries); err != nil {
			return err
		}
		n = len(events)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replay subscription %q: %w", p.SubscriptionID, s.c.MapError(err))
	}
	return n, nil
}

// deliveryScope is the condition that keeps f's app, account and grants, as ListDeliveries and
// RetryDeliveries read them.
func deliveryScope(f engine.DeliveryFilter) (where []string, args []any) {
	if f.AppID != "" {
		where, args = append(where, "app_id = ?"), append(args, f.AppID)
	}
	if f.AccountID != "" {
		where = append(where, "subscription_id IN (SELECT id FROM subscriptions WHERE account_id = ?)")
		args = append(args, f.AccountID)
	}
	if f.Granted {
		where = append(where, `subscription_id IN (SELECT s.id FROM subscriptions s JOIN grants g
			ON g.app_id = s.app_id AND g.account_id = s.account_id AND g.revoked_at IS NULL)`)
	}
	return where, args
}

// replayEventsSQL lists the events a subscription received since a time, in the order they were
// first accepted for it: by the sequence of their first ordered delivery (numbers of one queue
// only ever meet numbers of the same queue, which is all the order asks), then by when they
// occurred.
const replayEventsSQL = `SELECT e.id, e.entity_type, e.entity_id FROM events e
	JOIN (SELECT event_id, MIN(sequence) AS seq FROM deliveries
		WHERE subscription_id = ? AND kind = 'event' GROUP BY event_id) o ON o.event_id = e.id
	WHERE e.occurred_at >= ?
	ORDER BY COALESCE(o.seq, 0), e.occurred_at, e.id`

type replayEvent struct {
	ID         string `db:"id"`
	EntityType string `db:"entity_type"`
	EntityID   string `db:"entity_id"`
}

// CountDeliveriesSQL counts due, scheduled and in-flight deliveries. Each count reads only a
// partial index (deliveries_due, deliveries_lease), never the table.
const CountDeliveriesSQL = `SELECT
		(SELECT count(*) FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?),
		(SELECT count(*) FROM deliveries WHERE state = 'pending' AND next_attempt_at > ?),
		(SELECT count(*) FROM deliveries WHERE state = 'in_flight')`

func (s *Store) CountDeliveries(ctx context.Context, now time.Time) (engine.DeliveryCounts, error) {
	var c engine.DeliveryCounts
	err := s.c.Read.QueryRowxContext(ctx, s.q(CountDeliveriesSQL), sqlrow.ToMS(now), sqlrow.ToMS(now)).Scan(&c.Due, &c.Scheduled, &c.InFlight)
	if err != nil {
		return engine.DeliveryCounts{}, fmt.Errorf("count deliveries: %w", err)
	}
	return c, nil
}
