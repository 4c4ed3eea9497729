package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

const (
	// Complete reads the deliveries, all in one statement (per chunk of sqlrow.InChunks), counts
	// the outcomes on what it read, then writes each delivery's count with one UPDATE ... FROM
	// (VALUES ...) for many deliveries (Store.countAttempts): moved to the outcome's state and its
	// lease released, or, when it had ended before, its state and lease left alone. (A single
	// UPDATE ... SET state = CASE ... ELSE ? END ... RETURNING measured about 30 times slower per
	// row on SQLite 3.54 than a read and an UPDATE.) The read takes Config.ForUpdate, and locks in
	// order of id, so that two transactions locking the same deliveries cannot each wait for the
	// other.
	completeReadSQL = `SELECT id, state, attempts, next_attempt_at, subscription_id FROM deliveries
		WHERE id IN (?) ORDER BY id`
	// VALUES names its columns column1, column2, ... on both SQLite and PostgreSQL; the casts give
	// PostgreSQL their types, which it would otherwise take for text.
	countAttemptsHead = `UPDATE deliveries SET attempts = v.column2, last_status = v.column3,
		last_error = v.column4, state = v.column5, next_attempt_at = v.column6, updated_at = v.column7,
		lease_until = CASE WHEN v.column8 = 1 THEN NULL ELSE deliveries.lease_until END,
		lease_owner = CASE WHEN v.column8 = 1 THEN '' ELSE deliveries.lease_owner END
		FROM (`
	countAttemptsRow = `(CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS TEXT),
		CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS INTEGER))`
	countAttemptsTail = `) AS v WHERE deliveries.id = v.column1`
	// A failure marks the subscription failing unless it already is; a success clears the mark.
	markFailingSQL  = `UPDATE subscriptions SET failing_since = ?, version = version + 1 WHERE id = ? AND failing_since IS NULL`
	setFailingSQL   = `UPDATE subscriptions SET failing_since = ?, version = version + 1 WHERE id = ?`
	clearFailingSQL = `UPDATE subscriptions SET failing_since = NULL, version = version + 1 WHERE id = ? AND failing_since IS NOT NULL`
	disableSQL      = `UPDATE subscriptions SET state = 'disabled', disabled_reason = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND state <> 'disabled'`
)

// health is what a batch of outcomes does to one subscription's health, in order: cleared by a
// success; failing since the earliest failure after the last success; disabled, first reason wins.
type health struct {
	cleared      bool
	failingSince time.Time // zero: no failure after the last success
	disable      string
	disableAt    int64 // unix ms
}

func (s *Store) Complete(ctx context.Context, outcomes []*engine.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	for i, o := range outcomes {
		if o == nil || o.Attempt == nil {
			return fmt.Errorf("complete: outcome %d has no attempt: %w", i, engine.ErrInvalid)
		}
		switch o.State {
		case engine.DeliveryPending, engine.DeliverySucceeded, engine.DeliveryFailed, engine.DeliveryDead, engine.DeliverySkipped:
		default:
			return fmt.Errorf("complete: outcome %d: a delivery cannot move to %q: %w", i, o.State, engine.ErrInvalid)
		}
	}
	err := s.c.WriteRelaxed(ctx, func(tx *sqlx.Tx) error {
		current, err := s.readForComplete(ctx, tx, outcomes)
		if err != nil {
			return err
		}
		var counted []*deliveryCount // in the order first counted

		healthOf := make(map[string]*health)
		var order []string // subscriptions in the order first seen, for a stable write order
		// The attempts are stored together once every delivery has been counted, many to a
		// statement (Store.insertAttempts).
		attempts := make([][]any, 0, len(outcomes))
		for _, o := range outcomes {
			a := o.Attempt
			cur := current[a.DeliveryID]
			if cur == nil {
				continue // the delivery is gone, with its subscription
			}
			if !cur.listed {
				counted, cur.listed = append(counted, cur), true
			}
			cur.attempts++
			number, subID := cur.attempts, cur.subscriptionID
			cur.lastStatus, cur.lastError = a.ResponseStatus, s.c.Rows.Text(a.Error)
			cur.updatedAt = sqlrow.ToMS(a.StartedAt.Add(time.Duration(a.DurationMS) * time.Millisecond))
			ended := false
			switch engine.DeliveryState(cur.state) {
			case engine.DeliverySucceeded, engine.DeliveryFailed, engine.DeliveryDead, engine.DeliverySkipped:
				ended = true
			default:
				// An outcome without a next attempt (an end) keeps next_attempt_at.
				if !o.NextAttemptAt.IsZero() {
					cur.nextAttemptAt = sqlrow.ToMS(o.NextAttemptAt)
				}
				cur.state = string(o.State)
				cur.released = true
			}
			a.Number = number
			attempts = append(attempts, s.c.Rows.AttemptArgs(a))
			if ended {
				// A late outcome: its lease expired and a later attempt ended the delivery. That
				// attempt's result is the newer news of the receiver; this one must not mark the
				// subscription failing since before it, nor clear or disable anything.
				continue
			}
			if o.State == engine.DeliverySkipped {
				// Nothing was sent: the receiver is neither healthier nor failing for it.
				continue
			}

			// The delivery's own subscription, which Outcome.SubscriptionID names too.
			h := healthOf[subID]
			if h == nil {
				h = &health{}
				healthOf[subID] = h
				order = append(order, subID)
			}
			if o.Healthy {
				h.cleared, h.failingSince = true, time.Time{}
			} else if h.failingSince.IsZero() || a.StartedAt.Before(h.failingSince) {
				h.failingSince = a.StartedAt
			}
			if o.Disable != "" && h.disable == "" {
				h.disable, h.disableAt = o.Disable, cur.updatedAt
			}
		}

		counts := make([][]any, len(counted))
		for i, d := range counted {
			released := 0
			if d.released {
				released = 1
			}
			counts[i] = []any{d.id, d.attempts, d.lastStatus, d.lastError, d.state, d.nextAttemptAt, d.updatedAt, released}
		}
		if err := s.countAttempts.exec(ctx, tx, counts, nil); err != nil {
			return fmt.Errorf("count attempts: %w", err)
		}
		if err := s.insertAttempts.exec(ctx, tx, attempts, nil); err != nil {
			return fmt.Errorf("attempts: %w", err)
		}
		for _, id := range order {
			h := healthOf[id]
			var err error
			switch {
			case !h.failingSince.IsZero() && h.cleared:
				_, err = tx.ExecContext(ctx, s.q(setFailingSQL), sqlrow.ToMS(h.failingSince), id)
			case !h.failingSince.IsZero():
				_, err = tx.ExecContext(ctx, s.q(markFailingSQL), sqlrow.ToMS(h.failingSince), id)
			case h.cleared:
				_, err = tx.ExecContext(ctx, s.q(clearFailingSQL), id)
			}
			if err == nil && h.disable != "" {
				_, err = tx.ExecContext(ctx, s.q(disableSQL), h.disable, h.disableAt, id)
			}
			if err != nil {
				return fmt.Errorf("subscription %q: health: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete %d attempts: %w", len(outcomes), s.c.MapError(err))
	}
	return nil
}

// deliveryCount is what Complete reads of a delivery, kept up to date as it counts the batch's
// outcomes in order (one batch may hold two outcomes of one delivery: a late one and its retry's),
// and then writes.
type deliveryCount struct {
	id             string
	state          string
	attempts       int
	nextAttemptAt  int64
	subscriptionID string

	listed     bool // in Complete's list of deliveries to write
	lastStatus int
	lastError  string
	updatedAt  int64
	released   bool // moved by an outcome: the lease ends
}

// readForComplete reads the outcomes' deliveries, by id; a delivery deleted (with its
// subscription) is absent.
func (s *Store) readForComplete(ctx context.Context, tx *sqlx.Tx, outcomes []*engine.Outcome) (map[string]*deliveryCount, error) {
	ids := make([]string, 0, len(outcomes))
	for _, o := range outcomes {
		ids = append(ids, o.Attempt.DeliveryID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	current := make(map[string]*deliveryCount, len(ids))
	err := sqlrow.InChunks(ids, func(chunk []string) error {
		q, args, err := sqlx.In(completeReadSQL+s.c.ForUpdate, chunk)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d := &deliveryCount{}
			if err := rows.Scan(&d.id, &d.state, &d.attempts, &d.nextAttemptAt, &d.subscriptionID); err != nil {
				return err
			}
			current[d.id] = d
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	return current, nil
}
