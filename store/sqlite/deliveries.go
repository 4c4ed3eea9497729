package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
	"github.com/switchyard/switchyard/store/internal/sqlstore"
)

// deliveryCols names the shared column list in the claim's SQL, which is left as it was written.
const deliveryCols = sqlrow.DeliveryCols

// Claiming selects the due deliveries and leases each with an UPDATE by key, in one IMMEDIATE
// transaction, so no other claim can interleave. (One UPDATE ... WHERE id IN (SELECT ...)
// RETURNING took about 1.6 times as long on SQLite 3.54.)
//
// The selection takes turns: each subscription's due deliveries are numbered oldest first and only
// the first few (ClaimParams.PerSubscription) count; those are then numbered again within their
// account, and the batch takes every account's first turn before any account's second. So one
// subscription's backlog, or one account's many subscriptions, cannot fill a batch while another
// account's deliveries wait behind them.
//
// The turns are taken among the oldest due deliveries only (claimWindow times the batch), read in
// the order of the deliveries_due index: numbering every due delivery made one claim cost as much
// as the whole backlog (250 ms for 20,000 due, against 4 ms before turns). Subscriptions the
// dispatcher cannot send to now (ClaimParams.Skip, a JSON array) are left out before the window,
// so a hung receiver's backlog never fills it.
//
// Of an ordered queue only the head is a candidate (sqlstore.HeadSQL), checked before the
// window too, so that a long queue's waiting deliveries never fill it. A delivery without an
// ordering key skips the check.
//
// Left out how, though, matters: walking the deliveries_due index oldest first, a claim passes
// over every due delivery of a skipped subscription older than the work it can take, and one
// subscription at its cap with a backlog of 20,000 made each claim cost 9 ms (450 ms at a million).
// So a claim that skips subscriptions walks subscriptions instead (claimSkippingSQL): it lists
// those with pending deliveries, one seek each in deliveries_pending (a loose index scan), and
// takes from each of the others its oldest due ones, at most PerSubscription; it costs what the
// number of subscriptions with work costs, not what the skipped backlogs hold. A claim that skips
// nothing keeps the window, which costs what the batch costs.
//
// Their limits are written into the SQL (claimSQL), not bound: SQLite 3.54 plans with a bound LIMIT's
// value, so it prepared both statements again at every claim, parsing and planning the head checks'
// subqueries each time (2% of the server's CPU in the load generator's 16 x 20 run).
var claimSelectSQL = `SELECT id, subscription_id, next_attempt_at FROM deliveries d
	WHERE state = 'pending' AND next_attempt_at <= ?
		AND subscription_id NOT IN (SELECT value FROM json_each(?))
		AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE paused_at IS NOT NULL)
		AND (ordering_key IS NULL OR (` + sqlstore.HeadSQL + `))
	ORDER BY next_attempt_at, id
	LIMIT {window}`

var claimSkippingSQL = `WITH RECURSIVE pending(id) AS (
		SELECT (SELECT min(subscription_id) FROM deliveries WHERE state = 'pending')
		UNION ALL
		SELECT (SELECT min(subscription_id) FROM deliveries WHERE state = 'pending' AND subscription_id > p.id)
		FROM pending p WHERE p.id IS NOT NULL
	), subs AS (
		SELECT id FROM pending WHERE id IS NOT NULL
			AND id NOT IN (SELECT value FROM json_each(?))
			AND id NOT IN (SELECT id FROM subscriptions WHERE paused_at IS NOT NULL)
	), candidates AS (
		SELECT o.id, o.subscription_id, o.next_attempt_at FROM subs JOIN deliveries o ON o.id IN (
			SELECT d.id FROM deliveries d
			WHERE d.subscription_id = subs.id AND d.state = 'pending' AND d.next_attempt_at <= ?
				AND (d.ordering_key IS NULL OR (` + sqlstore.HeadSQL + `))
			ORDER BY d.next_attempt_at, d.id
			LIMIT {perSub})
		ORDER BY o.next_attempt_at, o.id
		LIMIT {window}
	)
	SELECT id, subscription_id, next_attempt_at FROM candidates ORDER BY next_attempt_at, id`

// claimSQL writes a claim query's limits into it. The window is rounded up to a power of two, so
// that the few texts a node uses stay in the driver's statement cache whatever a claim's batch
// (readCandidates reads no more than the window itself).
func claimSQL(query string, window, perSub int) string {
	rows := 1
	for rows < window {
		rows *= 2
	}
	return strings.NewReplacer("{window}", strconv.Itoa(rows), "{perSub}", strconv.Itoa(perSub)).Replace(query)
}

// candidate is a delivery a claim may take.
type candidate struct {
	ID, SubscriptionID, AccountID string
	NextAttemptAt                 int64
}

// readCandidates reads a claim's candidates, oldest first, leaving out those over their
// subscription's room (perSub less what it has in flight). Once it has some, it stops when it has
// passed over more such deliveries than the batch takes: they are a subscription's backlog the
// claim can take no more of, and reading the rest of the window behind them cost more than the
// claim's writes (the load generator's one busy subscription). What it stopped short of waits one
// claim: the engine's dispatcher skips a subscription with that much in flight in its next claims
// (ClaimParams.Skip). It scans by hand: sqlx's reflection cost more than the query per row.
func readCandidates(ctx context.Context, tx *sqlx.Tx, p engine.ClaimParams, perSub, window int, query string, args ...any) ([]candidate, error) {
	rows, err := tx.QueryContext(ctx, claimSQL(query, window, perSub), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cands []candidate
	taken := map[string]int{}
	passed := 0
	for read := 0; read < window && rows.Next(); read++ {
		var c candidate
		if err := rows.Scan(&c.ID, &c.SubscriptionID, &c.NextAttemptAt); err != nil {
			return nil, err
		}
		if taken[c.SubscriptionID]+p.InFlight[c.SubscriptionID] >= perSub {
			if passed++; passed > p.Limit && len(cands) > 0 {
				break
			}
			continue
		}
		taken[c.SubscriptionID]++
		cands = append(cands, c)
	}
	return cands, rows.Err()
}

// fillAccounts sets each candidate's account, read once per subscription: the window holds many
// deliveries of few subscriptions, and joining every row to its subscription cost more.
func fillAccounts(ctx context.Context, tx *sqlx.Tx, cands []candidate) error {
	accountOf := map[string]string{}
	var subIDs []string
	for i := range cands {
		if _, ok := accountOf[cands[i].SubscriptionID]; !ok {
			accountOf[cands[i].SubscriptionID] = ""
			subIDs = append(subIDs, cands[i].SubscriptionID)
		}
	}
	var subs []struct {
		ID        string `db:"id"`
		AccountID string `db:"account_id"`
	}
	if err := selectIn(ctx, tx, &subs, `SELECT id, account_id FROM subscriptions WHERE id IN (?)`, subIDs); err != nil {
		return err
	}
	for _, sub := range subs {
		accountOf[sub.ID] = sub.AccountID
	}
	for i := range cands {
		cands[i].AccountID = accountOf[cands[i].SubscriptionID]
	}
	return nil
}

// takeTurns picks the batch from candidates, oldest first and each within its subscription's room
// (readCandidates left out the rest): each subscription's are numbered, then numbered again within
// their account (by their subscription's number, then age), and the batch takes every account's
// first turn before any account's second. It returns the ids picked, in turn order.
func takeTurns(cands []candidate, limit int) []string {
	type turn struct {
		c            *candidate
		subTurn, acc int
	}
	subTurns := map[string]int{}
	byAccount := map[string][]turn{}
	var accounts []string
	for i := range cands {
		c := &cands[i]
		subTurns[c.SubscriptionID]++
		t := turn{c: c, subTurn: subTurns[c.SubscriptionID]}
		if _, ok := byAccount[c.AccountID]; !ok {
			accounts = append(accounts, c.AccountID)
		}
		byAccount[c.AccountID] = append(byAccount[c.AccountID], t)
	}
	var picked []turn
	for _, acc := range accounts {
		ts := byAccount[acc]
		// Stable: within one subscription number, the oldest first, as the candidates came.
		slices.SortStableFunc(ts, func(a, b turn) int { return a.subTurn - b.subTurn })
		for i := range ts {
			ts[i].acc = i + 1
		}
		picked = append(picked, ts...)
	}
	slices.SortFunc(picked, func(a, b turn) int {
		if a.acc != b.acc {
			return a.acc - b.acc
		}
		if a.c.NextAttemptAt != b.c.NextAttemptAt {
			return cmp.Compare(a.c.NextAttemptAt, b.c.NextAttemptAt)
		}
		return strings.Compare(a.c.ID, b.c.ID)
	})
	ids := make([]string, 0, min(limit, len(picked)))
	for i := 0; i < len(picked) && i < limit; i++ {
		ids = append(ids, picked[i].c.ID)
	}
	return ids
}

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
// among.
const claimWindow = 4

// claimLeaseSQL leases the claimed deliveries with one statement (per InChunks' chunk), not one
// per delivery: each statement is a trip through database/sql and the driver into SQLite.
const claimLeaseSQL = `UPDATE deliveries SET state = 'in_flight', lease_until = ?, lease_owner = ?, updated_at = ? WHERE id IN (?)`

// ClaimDue leases the due deliveries in one write transaction, then reads what shaping needs
// (events, subscriptions, apps, accounts: one IN query each) from the reader pool, so the writer is
// held only for the leasing. Events, apps and accounts are never deleted; a subscription deleted
// between the two steps took its deliveries with it, so they are left out.
func (s *Store) ClaimDue(ctx context.Context, p engine.ClaimParams) ([]*engine.Work, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	var rows []sqlrow.Delivery
	err := s.writeRelaxed(ctx, func(tx *sqlx.Tx) error {
		perSub := p.PerSubscription
		if perSub <= 0 {
			perSub = math.MaxInt32
		}
		skip, err := json.Marshal(p.Skip)
		if err != nil {
			return err
		}
		if p.Skip == nil {
			skip = []byte("[]")
		}
		var cands []candidate
		if len(p.Skip) == 0 {
			cands, err = readCandidates(ctx, tx, p, perSub, claimWindow*p.Limit, claimSelectSQL, ToMS(p.Now), string(skip))
		} else {
			cands, err = readCandidates(ctx, tx, p, perSub, claimWindow*p.Limit, claimSkippingSQL, string(skip), ToMS(p.Now))
		}
		if err != nil {
			return err
		}
		if err := fillAccounts(ctx, tx, cands); err != nil {
			return err
		}
		ids := takeTurns(cands, p.Limit)
		if len(ids) == 0 {
			return nil
		}
		if err := selectIn(ctx, tx, &rows, `SELECT `+deliveryCols+` FROM deliveries WHERE id IN (?)`, ids); err != nil {
			return err
		}
		order := make(map[string]int, len(ids))
		for i, id := range ids {
			order[id] = i
		}
		slices.SortFunc(rows, func(a, b sqlrow.Delivery) int { return order[a.ID] - order[b.ID] })
		lease, now := ToMS(p.LeaseUntil), ToMS(p.Now)
		err = InChunks(ids, func(chunk []string) error {
			q, args, err := sqlx.In(claimLeaseSQL, lease, p.Owner, now, chunk)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, q, args...)
			return err
		})
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].State, rows[i].LeaseUntil, rows[i].LeaseOwner, rows[i].UpdatedAt = "in_flight", sql.NullInt64{Int64: lease, Valid: true}, p.Owner, now
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", MapError(err))
	}
	if len(rows) == 0 {
		return nil, nil
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
	if err := selectIn(ctx, s.r, &eventRows, `SELECT `+sqlrow.EventCols+` FROM events WHERE id IN (?)`, eventIDs); err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	if err := selectIn(ctx, s.r, &subRows, `SELECT `+sqlrow.SubscriptionCols+` FROM subscriptions WHERE id IN (?)`, subIDs); err != nil {
		return nil, fmt.Errorf("load subscriptions: %w", err)
	}
	if err := selectIn(ctx, s.r, &appRows, `SELECT `+sqlrow.AppCols+` FROM apps WHERE id IN (?)`, appIDs); err != nil {
		return nil, fmt.Errorf("load apps: %w", err)
	}
	accountIDs := make([]string, 0, len(subRows))
	for i := range subRows {
		accountIDs = append(accountIDs, subRows[i].AccountID)
	}
	if accountIDs = sqlrow.Distinct(accountIDs); len(accountIDs) > 0 {
		if err := selectIn(ctx, s.r, &accountRows, `SELECT `+sqlrow.AccountCols+` FROM accounts WHERE id IN (?)`, accountIDs); err != nil {
			return nil, fmt.Errorf("load accounts: %w", err)
		}
	}
	return sqlstore.Works(rows, eventRows, subRows, appRows, accountRows)
}

const (
	recoverSQL = `UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_until = NULL, lease_owner = '', updated_at = ?
		WHERE state = 'in_flight' AND lease_until < ? AND (? = '' OR lease_owner = ?)`
	purgeSQL = `DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE started_at < ? LIMIT ?)`
)

func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next int64
	err := s.r.GetContext(ctx, &next, nextDueSQL)
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
		res, err := tx.ExecContext(ctx, recoverSQL, ToMS(p.DueAt), ToMS(p.DueAt), ToMS(p.ExpiredBefore), p.Owner, p.Owner)
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
	err := s.writeRelaxed(ctx, func(tx *sqlx.Tx) error {
		return InChunks(ids, func(chunk []string) error {
			q, args, err := sqlx.In(`UPDATE deliveries
				SET state = 'pending', next_attempt_at = ?, lease_until = NULL, lease_owner = '', updated_at = ?
				WHERE state = 'in_flight' AND id IN (?)`, ToMS(now), ToMS(now), chunk)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, q, args...)
			return err
		})

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
	err := s.writeRelaxed(ctx, func(tx *sqlx.Tx) error {
		return InChunks(ids, func(chunk []string) error {
			q, args, err := sqlx.In(`UPDATE deliveries SET lease_until = ?
				WHERE state = 'in_flight' AND lease_until < ? AND id IN (?)`, ToMS(until), ToMS(until), chunk)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, q, args...)
			return err
		})
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
			res, err := tx.ExecContext(ctx, purgeSQL, ToMS(before), s.purgeBatch)
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
