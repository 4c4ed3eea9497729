package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
	"github.com/switchyard/switchyard/store/internal/sqlstore"
)

// deliveryCols names the shared column list in the claim's SQL, which is left as it was written.
const deliveryCols = sqlrow.DeliveryCols

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
// Of an ordered queue only the head is a candidate (sqlstore.HeadSQL), checked before the
// window. The head's row lock is what claims on many nodes meet at: one takes it, the others skip
// it, and none takes the delivery behind it, which the head, pending or in flight, still holds.
//
// A claim that skips subscriptions walks subscriptions instead (claimSkippingSQL), for the reason
// SQLite's does: walking the due deliveries oldest first, it passed over every due delivery of a
// skipped subscription older than the work it could take, so one subscription at its cap with a
// large backlog made every claim as dear as that backlog. It lists the subscriptions with pending
// deliveries, one seek each in deliveries_pending (a loose index scan), and locks and takes from
// each of the others its oldest due ones, at most PerSubscription.
var claimSQL = `WITH candidates AS (
		SELECT id, subscription_id, next_attempt_at FROM deliveries d
		WHERE state = 'pending' AND next_attempt_at <= ? AND NOT (subscription_id = ANY (?))
			AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE paused_at IS NOT NULL)
			AND (ordering_key IS NULL OR (` + sqlstore.HeadSQL + `))
		ORDER BY next_attempt_at, id
		LIMIT ?
		FOR UPDATE OF d SKIP LOCKED
	)` + claimTurnsSQL

var claimSkippingSQL = `WITH RECURSIVE pending(id) AS (
		(SELECT subscription_id FROM deliveries WHERE state = 'pending' ORDER BY subscription_id LIMIT 1)
		UNION ALL
		SELECT (SELECT subscription_id FROM deliveries
				WHERE state = 'pending' AND subscription_id > p.id ORDER BY subscription_id LIMIT 1)
		FROM pending p WHERE p.id IS NOT NULL
	), subs AS (
		SELECT id FROM pending WHERE id IS NOT NULL AND NOT (id = ANY (?))
			AND id NOT IN (SELECT id FROM subscriptions WHERE paused_at IS NOT NULL)
	), candidates AS (
		SELECT c.id, c.subscription_id, c.next_attempt_at FROM subs CROSS JOIN LATERAL (
			SELECT d.id, d.subscription_id, d.next_attempt_at FROM deliveries d
			WHERE d.subscription_id = subs.id AND d.state = 'pending' AND d.next_attempt_at <= ?
				AND (d.ordering_key IS NULL OR (` + sqlstore.HeadSQL + `))
			ORDER BY d.next_attempt_at, d.id
			LIMIT ?
			FOR UPDATE OF d SKIP LOCKED) c
		ORDER BY c.next_attempt_at, c.id
		LIMIT ?
	)` + claimTurnsSQL

// claimTurnsSQL numbers the candidates' turns, takes the batch and leases it.
var claimTurnsSQL = `, due AS (
		SELECT c.id, c.next_attempt_at, s.account_id, COALESCE(f.n, 0) AS in_flight,
			ROW_NUMBER() OVER (PARTITION BY c.subscription_id ORDER BY c.next_attempt_at, c.id) AS sub_turn
		FROM candidates c JOIN subscriptions s ON s.id = c.subscription_id
			LEFT JOIN (SELECT key AS sub, value::int AS n FROM json_each_text(?::json)) f ON f.sub = c.subscription_id
	), turns AS (
		SELECT id, next_attempt_at,
			ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY sub_turn, next_attempt_at, id) AS turn
		FROM due WHERE sub_turn + in_flight <= ?
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
	WHERE state = 'pending' AND (ordering_key IS NULL OR (` + sqlstore.HeadSQL + `))
		AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE paused_at IS NOT NULL)
	ORDER BY next_attempt_at LIMIT 1`

// claimWindow is how many times the batch's size of the oldest due deliveries a claim takes turns
// among: bounded, so that a claim costs the same whatever the backlog.
const claimWindow = 4

// claimedRow is a claimed delivery with its turn, to put the claims back in turn order.
type claimedRow struct {
	sqlrow.Delivery
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
	inFlight, err := json.Marshal(p.InFlight)
	if err != nil {
		return nil, err
	}
	if p.InFlight == nil {
		inFlight = []byte("{}")
	}
	var claimed []claimedRow
	err = s.write(ctx, func(tx *sqlx.Tx) error {
		claimed = claimed[:0]
		if len(skip) == 0 {
			return tx.SelectContext(ctx, &claimed, rebind(claimSQL), ToMS(p.Now), skip, claimWindow*p.Limit, string(inFlight), perSub, p.Limit,
				ToMS(p.LeaseUntil), p.Owner, ToMS(p.Now))
		}
		return tx.SelectContext(ctx, &claimed, rebind(claimSkippingSQL), skip, ToMS(p.Now), perSub, claimWindow*p.Limit, string(inFlight), perSub, p.Limit,
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
	rows := make([]sqlrow.Delivery, len(claimed))
	for i := range claimed {
		rows[i] = claimed[i].Delivery
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
func (s *Store) loadWork(ctx context.Context, rows []sqlrow.Delivery) ([]*engine.Work, error) {
	var eventIDs, subIDs, appIDs []string
	for i := range rows {
		if rows[i].EventID.Valid {
			eventIDs = append(eventIDs, rows[i].EventID.String)
		}
		subIDs = append(subIDs, rows[i].SubscriptionID)
		appIDs = append(appIDs, rows[i].AppID)
	}
	eventIDs, subIDs, appIDs = sqlrow.Distinct(eventIDs), sqlrow.Distinct(subIDs), sqlrow.Distinct(appIDs)

	var (
		eventRows   []sqlrow.Event
		subRows     []sqlrow.Subscription
		appRows     []sqlrow.App
		accountRows []sqlrow.Account
	)
	if err := selectAny(ctx, s.db, &eventRows, `SELECT `+sqlrow.EventCols+` FROM events WHERE id = ANY (?)`, eventIDs); err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	if err := selectAny(ctx, s.db, &subRows, `SELECT `+sqlrow.SubscriptionCols+` FROM subscriptions WHERE id = ANY (?)`, subIDs); err != nil {
		return nil, fmt.Errorf("load subscriptions: %w", err)
	}
	if err := selectAny(ctx, s.db, &appRows, `SELECT `+sqlrow.AppCols+` FROM apps WHERE id = ANY (?)`, appIDs); err != nil {
		return nil, fmt.Errorf("load apps: %w", err)
	}
	accountIDs := make([]string, 0, len(subRows))
	for i := range subRows {
		accountIDs = append(accountIDs, subRows[i].AccountID)
	}
	if accountIDs = sqlrow.Distinct(accountIDs); len(accountIDs) > 0 {
		if err := selectAny(ctx, s.db, &accountRows, `SELECT `+sqlrow.AccountCols+` FROM accounts WHERE id = ANY (?)`, accountIDs); err != nil {
			return nil, fmt.Errorf("load accounts: %w", err)
		}
	}
	return sqlstore.Works(rows, eventRows, subRows, appRows, accountRows)
}

const (
	recoverSQL = `UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_until = NULL, lease_owner = '', updated_at = ?
		WHERE state = 'in_flight' AND lease_until < ? AND (?::text = '' OR lease_owner = ?)`
	purgeSQL = `DELETE FROM attempts WHERE (delivery_id, number) IN
		(SELECT delivery_id, number FROM attempts WHERE started_at < ? LIMIT ?)`
)

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
	ids = sqlrow.Distinct(slices.Clone(ids))
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

func (s *Store) ExtendLeases(ctx context.Context, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	ids = sqlrow.Distinct(slices.Clone(ids))
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
