package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
)

// Claiming leases the due deliveries with one UPDATE of the rows a locking SELECT picked. SKIP
// LOCKED passes over rows another transaction is claiming at that moment, so claims running at
// once (this process's or another's on the same database) each take different deliveries without
// waiting on each other.
//
// The selection takes turns as SQLite's does (store/sqlite/deliveries.go): among the oldest due
// deliveries (claimWindow times the batch), less the subscriptions the dispatcher cannot send to
// now (ClaimParams.Skip), each subscription's first few count, and the batch takes every account's
// first turn before any account's second.
//
// Of an ordered queue only the head is a candidate (headSQL, in ordering.go), checked before the
// window. The head's row lock is what claims on many nodes meet at: one takes it, the others skip
// it, and none takes the delivery behind it, which the head, pending or in flight, still holds.
var claimSQL = `WITH candidates AS (
		SELECT id, subscription_id, next_attempt_at FROM deliveries d
		WHERE state = 'pending' AND next_attempt_at <= ? AND NOT (subscription_id = ANY (?))
			AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE paused_at IS NOT NULL)
			AND (ordering_key IS NULL OR (` + headSQL + `))
		ORDER BY next_attempt_at, id
		LIMIT ?
		FOR UPDATE OF d SKIP LOCKED
	), due AS (
		SELECT c.id, c.next_attempt_at, s.account_id,
			ROW_NUMBER() OVER (PARTITION BY c.subscription_id ORDER BY c.next_attempt_at, c.id) AS sub_turn
		FROM candidates c JOIN subscriptions s ON s.id = c.subscription_id
	), turns AS (
		SELECT id, next_attempt_at,
			ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY sub_turn, next_attempt_at, id) AS turn
		FROM due WHERE sub_turn <= ?
	), picked AS (
		SELECT id, turn FROM turns ORDER BY turn, next_attempt_at, id LIMIT ?
	)
	UPDATE deliveries d SET state = 'in_flight', lease_until = ?, lease_owner = ?, updated_at = ?
	FROM picked WHERE d.id = picked.id
	RETURNING ` + qualifiedDeliveryCols + `, picked.turn`

// nextDueSQL finds when the earliest claimable delivery is due: a delivery held behind an earlier
// one of its ordered queue is not, however long it has been due, or the claim loop, told that work
// is due, would poll for it without pause while the queue is held.
//
// A paused subscription's due deliveries are not due for the dispatcher either: counting them would
// wake it again and again for work no claim returns.
var nextDueSQL = `SELECT next_attempt_at FROM deliveries d
	WHERE state = 'pending' AND (ordering_key IS NULL OR (` + headSQL + `))
		AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE paused_at IS NOT NULL)
	ORDER BY next_attempt_at LIMIT 1`

// claimWindow is how many times the batch's size of the oldest due deliveries a claim takes turns
// among: bounded, so that a claim costs the same whatever the backlog.
const claimWindow = 4

// claimedRow is a claimed delivery with its turn, to put the claims back in turn order.
type claimedRow struct {
	deliveryRow
	Turn int64 `db:"turn"`
}

// qualifiedDeliveryCols is deliveryCols of the UPDATE's table d, not of the CTE.
var qualifiedDeliveryCols = "d." + strings.Join(strings.Split(strings.Join(strings.Fields(deliveryCols), " "), ", "), ", d.")

// ClaimDue leases the due deliveries in one transaction, then reads what shaping needs (events,
// subscriptions, apps, accounts: one query each). Events, apps and accounts are never deleted; a
// subscription deleted between the two steps took its deliveries with it, so they are left out.
func (s *Store) ClaimDue(ctx context.Context, p engine.ClaimParams) ([]*engine.Work, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	perSub := p.PerSubscription
	if perSub <= 0 {
		perSub = math.MaxInt32
	}
	// Not nil: NULL would compare unknown and leave every row out.
	skip := append([]string{}, p.Skip...)
	var claimed []claimedRow
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		claimed = claimed[:0]
		return tx.SelectContext(ctx, &claimed, rebind(claimSQL), ToMS(p.Now), skip, claimWindow*p.Limit, perSub, p.Limit,
			ToMS(p.LeaseUntil), p.Owner, ToMS(p.Now))
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", MapError(err))
	}
	if len(claimed) == 0 {
		return nil, nil
	}
	// RETURNING follows no ORDER BY: put the claims back in the order of their turns.
	slices.SortFunc(claimed, func(a, b claimedRow) int {
		if c := cmp.Compare(a.Turn, b.Turn); c != 0 {
			return c
		}
		if c := cmp.Compare(a.NextAttemptAt, b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	rows := make([]deliveryRow, len(claimed))
	for i := range claimed {
		rows[i] = claimed[i].deliveryRow
	}
	works, err := s.loadWork(ctx, rows)
	if err != nil {
		// Give the leases back rather than leave the deliveries waiting for them to end.
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		_ = s.ReleaseLeases(context.WithoutCancel(ctx), ids, p.Now)
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return works, nil
}

// loadWork reads what shaping needs for claimed deliveries, in their order.
func (s *Store) loadWork(ctx context.Context, rows []deliveryRow) ([]*engine.Work, error) {
	var eventIDs, subIDs, appIDs []string
	for i := range rows {
		if rows[i].EventID.Valid {
			eventIDs = append(eventIDs, rows[i].EventID.String)
		}
		subIDs = append(subIDs, rows[i].SubscriptionID)
		appIDs = append(appIDs, rows[i].AppID)
	}
	eventIDs, subIDs, appIDs = distinct(eventIDs), distinct(subIDs), distinct(appIDs)

	var (
		eventRows   []eventRow
		subRows     []subscriptionRow
		appRows     []appRow
		accountRows []accountRow
	)
	if err := selectAny(ctx, s.db, &eventRows, `SELECT `+eventCols+` FROM events WHERE id = ANY (?)`, eventIDs); err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	if err := selectAny(ctx, s.db, &subRows, `SELECT `+subscriptionCols+` FROM subscriptions WHERE id = ANY (?)`, subIDs); err != nil {
		return nil, fmt.Errorf("load subscriptions: %w", err)
	}
	if err := selectAny(ctx, s.db, &appRows, `SELECT `+appCols+` FROM apps WHERE id = ANY (?)`, appIDs); err != nil {
		return nil, fmt.Errorf("load apps: %w", err)
	}
	accountIDs := make([]string, 0, len(subRows))
	for i := range subRows {
		accountIDs = append(accountIDs, subRows[i].AccountID)
	}
	if accountIDs = distinct(accountIDs); len(accountIDs) > 0 {
		if err := selectAny(ctx, s.db, &accountRows, `SELECT `+accountCols+` FROM accounts WHERE id = ANY (?)`, accountIDs); err != nil {
			return nil, fmt.Errorf("load accounts: %w", err)
		}
	}

	events := make(map[string]*engine.Event, len(eventRows))
	for i := range eventRows {
		ev, err := eventRows[i].event()
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		events[ev.ID] = ev
	}
	subs := make(map[string]*engine.Subscription, len(subRows))
	for i := range subRows {
		sub, err := subRows[i].subscription()
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		subs[sub.ID] = sub
	}
	apps := make(map[string]*engine.App, len(appRows))
	for i := range appRows {
		apps[appRows[i].ID] = appRows[i].app()
	}
	accounts := make(map[string]*engine.Account, len(accountRows))
	for i := range accountRows {
		accounts[accountRows[i].ID] = accountRows[i].account()
	}

	works := make([]*engine.Work, 0, len(rows))
	for i := range rows {
		d := rows[i].delivery()
		sub := subs[d.SubscriptionID]
		if sub == nil {
			continue // deleted since the claim, with the delivery
		}
		w := &engine.Work{Delivery: d, Subscription: sub, App: apps[d.AppID], Account: accounts[sub.AccountID]}
		if d.EventID != "" {
			w.Event = events[d.EventID]
		}
		works = append(works, w)
	}
	return works, nil
}

// distinct sorts ids and removes repeats, in place.
func distinct(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}

const (
	// Complete reads a delivery, then counts the attempt on it with one of two UPDATEs: moving it
	// to the outcome's state, or, when it has ended meanwhile, leaving its state alone (as
	// store/sqlite does).
	// FOR UPDATE: two outcomes of one delivery (a late one, and the attempt after its lease
	// expired) count one after the other, never both from the same read.
	completeReadSQL = `SELECT state, attempts, next_attempt_at, subscription_id FROM deliveries WHERE id = ? FOR UPDATE`
	completeMoveSQL = `UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, state = ?,
		next_attempt_at = ?, lease_until = NULL, lease_owner = '', updated_at = ? WHERE id = ?`
	completeCountSQL = `UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, updated_at = ?
		WHERE id = ?`
	insertAttemptSQL = `INSERT INTO attempts (` + attemptCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// A failure marks the subscription failing unless it already is; a success clears the mark.
	markFailingSQL  = `UPDATE subscriptions SET failing_since = ?, version = version + 1 WHERE id = ? AND failing_since IS NULL`
	setFailingSQL   = `UPDATE subscriptions SET failing_since = ?, version = version + 1 WHERE id = ?`
	clearFailingSQL = `UPDATE subscriptions SET failing_since = NULL, version = version + 1 WHERE id = ? AND failing_since IS NOT NULL`
	disableSQL      = `UPDATE subscriptions SET state = 'disabled', disabled_reason = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND state <> 'disabled'`

	recoverSQL = `UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_until = NULL, lease_owner = '', updated_at = ?
		WHERE state = 'in_flight' AND lease_until < ? AND (?::text = '' OR lease_owner = ?)`
	purgeSQL = `DELETE FROM attempts WHERE (delivery_id, number) IN
		(SELECT delivery_id, number FROM attempts WHERE started_at < ? LIMIT ?)`
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
		case engine.DeliveryPending, engine.DeliverySucceeded, engine.DeliveryFailed, engine.DeliveryDead:
		default:
			return fmt.Errorf("complete: outcome %d: a delivery cannot move to %q: %w", i, o.State, engine.ErrInvalid)
		}
	}
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		read := stmt(tx, completeReadSQL)
		move := stmt(tx, completeMoveSQL)
		count := stmt(tx, completeCountSQL)
		ins := stmt(tx, insertAttemptSQL)

		healthOf := make(map[string]*health)
		var order []string // subscriptions in the order first seen, for a stable write order
		for _, o := range outcomes {
			a := o.Attempt
			var (
				state  string
				number int
				next   int64
				subID  string
			)
			err := read.QueryRowxContext(ctx, a.DeliveryID).Scan(&state, &number, &next, &subID)
			if errors.Is(err, sql.ErrNoRows) {
				continue // the delivery is gone, with its subscription
			}
			if err != nil {
				return fmt.Errorf("delivery %q: %w", a.DeliveryID, err)
			}
			number++
			finished := ToMS(a.StartedAt.Add(time.Duration(a.DurationMS) * time.Millisecond))
			ended := false
			switch engine.DeliveryState(state) {
			case engine.DeliverySucceeded, engine.DeliveryFailed, engine.DeliveryDead:
				ended = true
				_, err = count.ExecContext(ctx, number, a.ResponseStatus, cleanText(a.Error), finished, a.DeliveryID)
			default:
				// An outcome without a next attempt (an end) keeps next_attempt_at.
				if !o.NextAttemptAt.IsZero() {
					next = ToMS(o.NextAttemptAt)
				}
				_, err = move.ExecContext(ctx, number, a.ResponseStatus, cleanText(a.Error), string(o.State), next, finished, a.DeliveryID)
			}
			if err != nil {
				return fmt.Errorf("delivery %q: %w", a.DeliveryID, err)
			}
			a.Number = number
			args, err := attemptArgs(a)
			if err != nil {
				return fmt.Errorf("delivery %q: attempt %d: %w", a.DeliveryID, number, err)
			}
			if _, err := ins.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("delivery %q: attempt %d: %w", a.DeliveryID, number, err)
			}
			if ended {
				// A late outcome: its lease expired and a later attempt ended the delivery. That
				// attempt's result is the newer news of the receiver; this one must not mark the
				// subscription failing since before it, nor clear or disable anything.
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
				h.disable, h.disableAt = o.Disable, finished
			}
		}

		for _, id := range order {
			h := healthOf[id]
			var err error
			switch {
			case !h.failingSince.IsZero() && h.cleared:
				_, err = tx.ExecContext(ctx, rebind(setFailingSQL), ToMS(h.failingSince), id)
			case !h.failingSince.IsZero():
				_, err = tx.ExecContext(ctx, rebind(markFailingSQL), ToMS(h.failingSince), id)
			case h.cleared:
				_, err = tx.ExecContext(ctx, rebind(clearFailingSQL), id)
			}
			if err == nil && h.disable != "" {
				_, err = tx.ExecContext(ctx, rebind(disableSQL), h.disable, h.disableAt, id)
			}
			if err != nil {
				return fmt.Errorf("subscription %q: health: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete %d attempts: %w", len(outcomes), MapError(err))
	}
	return nil
}

func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next int64
	err := s.db.GetContext(ctx, &next, rebind(nextDueSQL))
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due delivery: %w", err)
	}
	return FromMS(next), true, nil
}

func (s *Store) RecoverLeases(ctx context.Context, p engine.RecoverLeasesParams) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, rebind(recoverSQL), ToMS(p.DueAt), ToMS(p.DueAt), ToMS(p.ExpiredBefore), p.Owner, p.Owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("recover leases: %w", MapError(err))
	}
	return int(n), nil
}

func (s *Store) ReleaseLeases(ctx context.Context, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	ids = distinct(slices.Clone(ids))
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, rebind(`UPDATE deliveries
			SET state = 'pending', next_attempt_at = ?, lease_until = NULL, lease_owner = '', updated_at = ?
			WHERE state = 'in_flight' AND id = ANY (?)`), ToMS(now), ToMS(now), ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("release %d leases: %w", len(ids), MapError(err))
	}
	return nil
}

// countDeliveriesSQL reads the partial indexes of pending and in-flight deliveries only.
const countDeliveriesSQL = `SELECT
		(SELECT count(*) FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?),
		(SELECT count(*) FROM deliveries WHERE state = 'pending' AND next_attempt_at > ?),
		(SELECT count(*) FROM deliveries WHERE state = 'in_flight')`

func (s *Store) CountDeliveries(ctx context.Context, now time.Time) (engine.DeliveryCounts, error) {
	var c engine.DeliveryCounts
	err := s.db.QueryRowContext(ctx, rebind(countDeliveriesSQL), ToMS(now), ToMS(now)).Scan(&c.Due, &c.Scheduled, &c.InFlight)
	if err != nil {
		return engine.DeliveryCounts{}, fmt.Errorf("count deliveries: %w", err)
	}
	return c, nil
}

func (s *Store) ExtendLeases(ctx context.Context, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	ids = distinct(slices.Clone(ids))
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, rebind(`UPDATE deliveries SET lease_until = ?
			WHERE state = 'in_flight' AND lease_until < ? AND id = ANY (?)`), ToMS(until), ToMS(until), ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("extend %d leases: %w", len(ids), MapError(err))
	}
	return nil
}

func (s *Store) GetDelivery(ctx context.Context, id string) (*engine.Delivery, error) {
	var r deliveryRow
	if err := s.db.GetContext(ctx, &r, rebind(`SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get delivery %q: %w", id, MapError(err))
	}
	return r.delivery(), nil
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
		add("created_at >= ?", ToMS(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", ToMS(f.Until))
	}
	if f.Before != "" {
		add("id < ?", f.Before)
	}
	q := `SELECT ` + deliveryCols + ` FROM deliveries`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC` + LimitClause(f.Limit)
	var rows []deliveryRow
	if err := s.db.SelectContext(ctx, &rows, rebind(q), args...); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", MapError(err))
	}
	out := make([]*engine.Delivery, len(rows))
	for i := range rows {
		out[i] = rows[i].delivery()
	}
	return out, nil
}

func (s *Store) ListAttempts(ctx context.Context, deliveryID string) ([]*engine.Attempt, error) {
	var rows []attemptRow
	if err := s.db.SelectContext(ctx, &rows,
		rebind(`SELECT `+attemptCols+` FROM attempts WHERE delivery_id = ? ORDER BY number`), deliveryID); err != nil {
		return nil, fmt.Errorf("list attempts of delivery %q: %w", deliveryID, MapError(err))
	}
	out := make([]*engine.Attempt, len(rows))
	for i := range rows {
		a, err := rows[i].attempt()
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
	WHERE id = ? AND state IN ('pending', 'failed', 'dead')
	RETURNING ` + deliveryCols

func (s *Store) RetryDelivery(ctx context.Context, id string, now time.Time) (*engine.Delivery, error) {
	var r deliveryRow
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &r, rebind(retryOneSQL), ToMS(now), ToMS(now), ToMS(now), id)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var state string
		if err := tx.GetContext(ctx, &state, rebind(`SELECT state FROM deliveries WHERE id = ?`), id); err != nil {
			return err // ErrNoRows: not found
		}
		return engine.Conflictf("delivery %s is %s; only a pending, failed or dead delivery can be retried", id, state)
	})
	if err != nil {
		return nil, fmt.Errorf("retry delivery %q: %w", id, MapError(err))
	}
	return r.delivery(), nil
}

func (s *Store) RetryDeliveries(ctx context.Context, p engine.RetryDeliveriesParams) (int, error) {
	if len(p.States) == 0 || p.Limit <= 0 {
		return 0, nil
	}
	now := ToMS(p.Now)
	where, args := deliveryScope(p.Scope)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if p.SubscriptionID != "" {
		add("subscription_id = ?", p.SubscriptionID)
	}
	if !p.Since.IsZero() {
		add("created_at >= ?", ToMS(p.Since))
	}
	if !p.Until.IsZero() {
		add("created_at < ?", ToMS(p.Until))
	}
	var states []string
	var stateArgs []any
	for _, st := range p.States {
		switch st {
		case engine.DeliveryFailed, engine.DeliveryDead:
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
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, rebind(q), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retry deliveries: %w", MapError(err))
	}
	return int(n), nil
}

func (s *Store) ReplaySubscription(ctx context.Context, p engine.ReplayParams) (int, error) {
	if p.NewID == nil {
		return 0, fmt.Errorf("replay subscription %q: no NewID: %w", p.SubscriptionID, engine.ErrInvalid)
	}
	n := 0
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		var appID string
		if err := tx.GetContext(ctx, &appID, rebind(`SELECT app_id FROM subscriptions WHERE id = ?`), p.SubscriptionID); err != nil {
			return err // ErrNoRows: not found
		}
		var events []replayEvent
		if err := tx.SelectContext(ctx, &events, rebind(replayEventsSQL), p.SubscriptionID, ToMS(p.Since)); err != nil {
			return fmt.Errorf("find events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		now := FromMS(ToMS(p.Now))
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
		if err := assignSequences(ctx, tx, ordered); err != nil {
			return err
		}
		ins := stmt(tx, insertDeliverySQL)
		for _, d := range deliveries {
			if _, err := ins.ExecContext(ctx, deliveryArgs(d)...); err != nil {
				return fmt.Errorf("delivery %q of event %q: %w", d.ID, d.EventID, err)
			}
		}
		n = len(events)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replay subscription %q: %w", p.SubscriptionID, MapError(err))
	}
	return n, nil
}

// PurgeAttempts deletes in batches (Store.purgeBatch), a transaction each, so that a large purge never
// holds the writer for long: ingest and delivery go on between batches. A purge cut short leaves
// only older attempts for the next one.
func (s *Store) PurgeAttempts(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, rebind(purgeSQL), ToMS(before), s.purgeBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge attempts: %w", MapError(err))
		}
		total += n
		if n < int64(s.purgeBatch) {
			return total, nil
		}
	}
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
