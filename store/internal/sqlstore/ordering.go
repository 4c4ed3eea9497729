package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

// HeadSQL is true of a pending ordered delivery d that nothing earlier in its queue holds back: no
// delivery with a smaller sequence pending or in flight, nor dead when the subscription blocks on
// dead ones. Each probe is a seek in deliveries_ordering, whatever the queue's delivered past. Both
// drivers' claims take only a queue's head by it, so its deliveries go one at a time in sequence
// order.
const HeadSQL = `NOT EXISTS (SELECT 1 FROM deliveries e
			WHERE e.subscription_id = d.subscription_id AND e.state IN ('pending', 'in_flight')
				AND e.ordering_key IS NOT NULL AND e.ordering_key = d.ordering_key AND e.sequence < d.sequence)
		AND NOT ((SELECT s.on_dead FROM subscriptions s WHERE s.id = d.subscription_id) = 'block'
			AND EXISTS (SELECT 1 FROM deliveries e
				WHERE e.subscription_id = d.subscription_id AND e.state = 'dead'
					AND e.ordering_key IS NOT NULL AND e.ordering_key = d.ordering_key AND e.sequence < d.sequence))`

// bumpSequenceSQL takes n numbers of a queue and returns the last of them.
const bumpSequenceSQL = `INSERT INTO ordering_sequences (subscription_id, ordering_key, last) VALUES (?, ?, ?)
	ON CONFLICT (subscription_id, ordering_key) DO UPDATE SET last = ordering_sequences.last + excluded.last
	RETURNING last`

type queueRef struct{ sub, key string }

// AssignSequences numbers ordered deliveries, in the order given, after every number their queues
// gave before. Each queue's counter is bumped once, queues in key order: the same order in every
// transaction, so that two of them never wait on each other's counters. rebind is the driver's
// (Config.Rebind).
func AssignSequences(ctx context.Context, tx *sqlx.Tx, rebind func(string) string, ds []*engine.Delivery) error {
	counts := map[queueRef]int64{}
	for _, d := range ds {
		counts[queueRef{d.SubscriptionID, d.OrderingKey}]++
	}
	queues := make([]queueRef, 0, len(counts))
	for q := range counts {
		queues = append(queues, q)
	}
	slices.SortFunc(queues, func(a, b queueRef) int {
		return cmp.Or(cmp.Compare(a.sub, b.sub), cmp.Compare(a.key, b.key))
	})
	next := make(map[queueRef]int64, len(queues))
	bump := NewStmt(tx, rebound(rebind, bumpSequenceSQL))
	for _, q := range queues {
		var last int64
		if err := bump.QueryRowxContext(ctx, q.sub, q.key, counts[q]).Scan(&last); err != nil {
			return fmt.Errorf("sequence of subscription %q queue %q: %w", q.sub, q.key, err)
		}
		next[q] = last - counts[q] + 1
	}
	for _, d := range ds {
		q := queueRef{d.SubscriptionID, d.OrderingKey}
		d.Sequence = next[q]
		next[q]++
	}
	return nil
}

func (s *Store) SkipDelivery(ctx context.Context, id, reason string, now time.Time) (*engine.Delivery, error) {
	var r sqlrow.Delivery
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &r, s.q(`UPDATE deliveries
			SET state = 'skipped', last_error = ?, lease_until = NULL, updated_at = ?
			WHERE id = ? AND state IN ('pending', 'dead')
			RETURNING `+sqlrow.DeliveryCols),
			s.c.Rows.Text(reason), sqlrow.ToMS(now), id)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var state string
		if err := tx.GetContext(ctx, &state, s.q(`SELECT state FROM deliveries WHERE id = ?`), id); err != nil {
			return err // ErrNoRows: not found
		}
		return fmt.Errorf("the delivery is %s; only a pending or dead delivery can be skipped: %w", state, engine.ErrConflict)
	})
	if err != nil {
		return nil, fmt.Errorf("skip delivery %q: %w", id, s.c.MapError(err))
	}
	return r.Engine(), nil
}

// heldQueuesSQL lists a subscription's queues with deliveries waiting: the head (the first
// delivery that holds the queue: pending, in flight, or dead under on_dead = block) and how many
// pending ones wait behind it.
const heldQueuesSQL = `WITH heads AS (
		SELECT ordering_key, MIN(sequence) AS seq FROM deliveries
		WHERE subscription_id = ? AND ordering_key IS NOT NULL
			AND (state IN ('pending', 'in_flight')
				OR (state = 'dead' AND (SELECT on_dead FROM subscriptions WHERE id = ?) = 'block'))
		GROUP BY ordering_key
	), held AS (
		SELECT h.ordering_key, h.seq, (SELECT count(*) FROM deliveries d
			WHERE d.subscription_id = ? AND d.state = 'pending' AND d.ordering_key IS NOT NULL
				AND d.ordering_key = h.ordering_key AND d.sequence > h.seq) AS n
		FROM heads h
	)
	SELECT ordering_key, seq, n FROM held WHERE n > 0 ORDER BY n DESC, ordering_key`

func (s *Store) HeldDeliveries(ctx context.Context, subscriptionID string, limit int) (*engine.Held, error) {
	var queues []struct {
		Key string `db:"ordering_key"`
		Seq int64  `db:"seq"`
		N   int64  `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, s.c.Read, &queues, s.q(heldQueuesSQL), subscriptionID, subscriptionID, subscriptionID); err != nil {
		return nil, fmt.Errorf("held deliveries of subscription %q: %w", subscriptionID, s.c.MapError(err))
	}
	h := &engine.Held{}
	for i, q := range queues {
		h.Deliveries += q.N
		if i >= limit {
			continue
		}
		var r sqlrow.Delivery
		err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.DeliveryCols+` FROM deliveries
			WHERE subscription_id = ? AND ordering_key = ? AND sequence = ?`), subscriptionID, q.Key, q.Seq)
		if errors.Is(err, sql.ErrNoRows) {
			continue // ended between the two reads
		}
		if err != nil {
			return nil, fmt.Errorf("held deliveries of subscription %q: %w", subscriptionID, s.c.MapError(err))
		}
		h.Behind = append(h.Behind, heldQueue(r.Engine(), q.N))
	}
	return h, nil
}

func heldQueue(d *engine.Delivery, n int64) engine.HeldQueue {
	q := engine.HeldQueue{OrderingKey: d.OrderingKey, DeliveryID: d.ID, Sequence: d.Sequence, State: d.State,
		Attempts: d.Attempts, LastError: d.LastError, Held: n}
	if d.State == engine.DeliveryPending {
		at := d.NextAttemptAt
		q.NextAttemptAt = &at
	}
	return q
}
