package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

const (
	// Store.insertEvents stores each event unless its account already has one with its idempotency
	// key; then it changes nothing, and findEventSQL finds that one. Both run in the ingest
	// transaction, so they see the events stored earlier in the same call.
	insertEventsTail = `ON CONFLICT (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`
	findEventSQL     = `SELECT id FROM events WHERE account_id = ? AND idempotency_key = ?`
	// Routing reads an account's active subscriptions in two parts: those for any entity, once
	// per account and call, and those limited to the event's entity, once per entity and call.
	// Reading every subscription of an account for each call cost 105 ms with 10,000
	// per-document subscriptions, all of it while holding SQLite's one writer; both reads use the index
	// subscriptions_routing (account_id, entity_key, id) on active subscriptions.
	//
	// They are put in order of id by subscriptionReader.read, not by ORDER BY: with it, SQLite 3.54
	// marked the statement to be prepared again whenever its parameter is bound anew, which is
	// every time (a perf probe on sqlite3Reprepare caught it once per ingest transaction), and
	// parsing and planning were most of the read's cost: 18 us of 23 on an idle store, more under
	// load. store/sqlite's TestHotReadsAreNotPreparedAgain checks it stays prepared.
	WideSubscriptionsSQL = `SELECT ` + sqlrow.SubscriptionCols + ` FROM subscriptions
		WHERE account_id = ? AND entity_key = '' AND state = 'active'`
	EntitySubscriptionsSQL = `SELECT ` + sqlrow.SubscriptionCols + ` FROM subscriptions
		WHERE account_id = ? AND entity_key = ? AND state = 'active'`
	// Most accounts have no subscription limited to one entity; asking once per account and call
	// spares them a query per event (13% of the server's CPU when every event named a new entity).
	HasEntitySubscriptionsSQL = `SELECT EXISTS (SELECT 1 FROM subscriptions
		WHERE account_id = ? AND entity_key > '' AND state = 'active')`
)

// ingestStmts are the statements Ingest runs for each account and entity it routes for.
type ingestStmts struct {
	findEvent, wideSubs, entitySubs, hasEntitySubs Stmt
}

func (s *Store) newIngestStmts(tx *sqlx.Tx) *ingestStmts {
	return &ingestStmts{
		findEvent: s.stmt(tx, findEventSQL),
		wideSubs:  s.stmt(tx, WideSubscriptionsSQL), entitySubs: s.stmt(tx, EntitySubscriptionsSQL),
		hasEntitySubs: s.stmt(tx, HasEntitySubscriptionsSQL),
	}
}

// Ingest stores the events and the deliveries p.Route picks for them, in one transaction: first
// the events, many to a statement, then the deliveries of those stored, many to a statement. Each
// account's subscriptions for any entity are read once per call, and those for one entity once per
// entity and call.
func (s *Store) Ingest(ctx context.Context, p engine.IngestParams) ([]engine.IngestResult, error) {
	if len(p.Events) == 0 {
		return nil, nil
	}
	results := make([]engine.IngestResult, len(p.Events))
	err := s.c.Write(ctx, func(tx *sqlx.Tx) error {
		st := s.newIngestStmts(tx)
		rows := make([][]any, len(p.Events))
		for i, ev := range p.Events {
			args, err := sqlrow.EventArgs(ev)
			if err != nil {
				return fmt.Errorf("event %q: %w", ev.ID, err)
			}
			rows[i] = args
			results[i] = engine.IngestResult{EventID: ev.ID}
		}
		err := s.insertEvents.exec(ctx, tx, rows, func(lo, hi int, stored int64) error {
			if int(stored) == hi-lo {
				return nil
			}
			// Some were passed over: their idempotency key is taken, by an event stored before
			// or earlier in this call.
			passed := 0
			for i := lo; i < hi; i++ {
				ev := p.Events[i]
				if ev.IdempotencyKey == "" {
					continue
				}
				var first string
				if err := st.findEvent.QueryRowxContext(ctx, ev.AccountID, ev.IdempotencyKey).Scan(&first); err != nil {
					return fmt.Errorf("event %q: find by idempotency key: %w", ev.ID, err)
				}
				if first != ev.ID {
					results[i] = engine.IngestResult{EventID: first, Duplicate: true}
					passed++
				}
			}
			if passed != hi-lo-int(stored) {
				return fmt.Errorf("events %q..%q: %d stored of %d, but %d found under another's idempotency key",
					p.Events[lo].ID, p.Events[hi-1].ID, stored, hi-lo, passed)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("events %q..%q: %w", p.Events[0].ID, p.Events[len(p.Events)-1].ID, err)
		}

		r := subscriptionReader{st: st, wide: map[string][]*engine.Subscription{}, keyed: map[entityRef][]*engine.Subscription{}, hasKeyed: map[string]bool{}}
		var all, ordered []*engine.Delivery
		for i, ev := range p.Events {
			if results[i].Duplicate {
				continue
			}
			subs, err := r.offered(ctx, ev)
			if err != nil {
				return err
			}
			var deliveries []*engine.Delivery
			if p.Route != nil {
				deliveries = p.Route(ev, subs)
			}
			for _, d := range deliveries {
				if d.EventID == "" {
					d.EventID = ev.ID
				}
				if d.OrderingKey != "" {
					ordered = append(ordered, d)
				}
			}
			all = append(all, deliveries...)
			results[i].Deliveries = len(deliveries)
		}
		// Numbered once every event of the call is routed: the queues' counters are then locked
		// in one order, the same in every transaction.
		if err := AssignSequences(ctx, tx, s.c.Rebind, ordered); err != nil {
			return err
		}
		if p.Parties != nil {
			if err := s.readParties(ctx, tx, p.Parties); err != nil {
				return err
			}
		}
		return s.insertDeliveries(ctx, tx, all)
	})
	if err != nil {
		return nil, fmt.Errorf("ingest %d events: %w", len(p.Events), s.c.MapError(err))
	}
	return results, nil
}

// readParties reads the apps and accounts p names into p.Apps and p.Accounts.
func (s *Store) readParties(ctx context.Context, tx *sqlx.Tx, p *engine.Parties) error {
	var apps []sqlrow.App
	if err := sqlrow.SelectIn(ctx, tx, s.c.Rebind, &apps, `SELECT `+sqlrow.AppCols+` FROM apps WHERE id IN (?)`, sqlrow.Distinct(p.AppIDs)); err != nil {
		return fmt.Errorf("read apps: %w", err)
	}
	var accounts []sqlrow.Account
	if err := sqlrow.SelectIn(ctx, tx, s.c.Rebind, &accounts, `SELECT `+sqlrow.AccountCols+` FROM accounts WHERE id IN (?)`, sqlrow.Distinct(p.AccountIDs)); err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	p.Apps, p.Accounts = make(map[string]*engine.App, len(apps)), make(map[string]*engine.Account, len(accounts))
	for i := range apps {
		p.Apps[apps[i].ID] = apps[i].Engine()
	}
	for i := range accounts {
		p.Accounts[accounts[i].ID] = accounts[i].Engine()
	}
	return nil
}

// insertDeliveries stores ds, many to a statement.
func (s *Store) insertDeliveries(ctx context.Context, tx *sqlx.Tx, ds []*engine.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	rows := make([][]any, len(ds))
	for i, d := range ds {
		rows[i] = s.c.Rows.DeliveryArgs(d)
	}
	if err := s.insertDeliveryRows.exec(ctx, tx, rows, nil); err != nil {
		return fmt.Errorf("deliveries %q..%q: %w", ds[0].ID, ds[len(ds)-1].ID, err)
	}
	return nil
}

type entityRef struct{ account, entity string }

// subscriptionReader reads, and remembers for the rest of one Ingest call, the subscriptions an
// event could be routed to.
type subscriptionReader struct {
	st       *ingestStmts
	wide     map[string][]*engine.Subscription
	keyed    map[entityRef][]*engine.Subscription
	hasKeyed map[string]bool
}

// offered returns the account's active subscriptions for any entity, then those for ev's entity.
func (r *subscriptionReader) offered(ctx context.Context, ev *engine.Event) ([]*engine.Subscription, error) {
	wide, ok := r.wide[ev.AccountID]
	if !ok {
		var err error
		if wide, err = r.read(ctx, r.st.wideSubs, ev.AccountID); err != nil {
			return nil, fmt.Errorf("active subscriptions of account %q: %w", ev.AccountID, err)
		}
		r.wide[ev.AccountID] = wide
	}
	if ev.Entity.ID == "" {
		return wide, nil
	}
	has, ok := r.hasKeyed[ev.AccountID]
	if !ok {
		if err := r.st.hasEntitySubs.QueryRowxContext(ctx, ev.AccountID).Scan(&has); err != nil {
			return nil, fmt.Errorf("entity subscriptions of account %q: %w", ev.AccountID, err)
		}
		r.hasKeyed[ev.AccountID] = has
	}
	if !has {
		return wide, nil
	}
	ref := entityRef{ev.AccountID, ev.Entity.ID}
	keyed, ok := r.keyed[ref]
	if !ok {
		var err error
		if keyed, err = r.read(ctx, r.st.entitySubs, ev.AccountID, ev.Entity.ID); err != nil {
			return nil, fmt.Errorf("active subscriptions of account %q for entity %q: %w", ev.AccountID, ev.Entity.ID, err)
		}
		r.keyed[ref] = keyed
	}
	if len(keyed) == 0 {
		return wide, nil
	}
	return append(wide[:len(wide):len(wide)], keyed...), nil
}

// read returns the subscriptions stmt selects, in order of id: routing is the same on every node
// and after every restart.
func (r *subscriptionReader) read(ctx context.Context, stmt Stmt, args ...any) ([]*engine.Subscription, error) {
	var rows []sqlrow.Subscription
	if err := stmt.SelectContext(ctx, &rows, args...); err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b sqlrow.Subscription) int { return strings.Compare(a.ID, b.ID) })
	return subscriptions(rows)
}

func (s *Store) GetEvent(ctx context.Context, id string) (*engine.Event, error) {
	var r sqlrow.Event
	if err := sqlx.GetContext(ctx, s.c.Read, &r, s.q(`SELECT `+sqlrow.EventCols+` FROM events WHERE id = ?`), id); err != nil {
		return nil, fmt.Errorf("get event %q: %w", id, s.c.MapError(err))
	}
	return r.Engine()
}

func (s *Store) ListEvents(ctx context.Context, f engine.EventFilter) ([]*engine.Event, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.AccountID != "" {
		add("account_id = ?", f.AccountID)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
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
	q := `SELECT ` + sqlrow.EventCols + ` FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC` + sqlrow.LimitClause(f.Limit)
	var rows []sqlrow.Event
	if err := sqlx.SelectContext(ctx, s.c.Read, &rows, s.q(q), args...); err != nil {
		return nil, fmt.Errorf("list events: %w", s.c.MapError(err))
	}
	out := make([]*engine.Event, len(rows))
	for i := range rows {
		ev, err := rows[i].Engine()
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out[i] = ev
	}
	return out, nil
}
