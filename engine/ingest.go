package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// ingester commits published events in groups: while one transaction commits, the requests that
// arrive wait together for the next. Each request still gets its answer only after its own events
// are committed, so group commit trades nothing in durability for throughput.
//
// A group smaller than the last one (of four requests or more) waits a little (linger) for the
// rest: the publishers the last commit answered are likely sending again. Without the wait, a group
// starts with whoever came back first, and every commit's fixed cost (a transaction, an fsync) is
// shared by fewer events.
//
// Deliveries that are due at once go straight to the dispatcher when it has free slots: they are
// stored already leased (in_flight) in the ingest transaction and handed over after the commit,
// so the hot path skips the claim transaction and the reads that load claimed work. Everything
// else is stored pending and claimed as before. A crash loses nothing: a start makes every
// delivery left in flight due again.
type ingester struct {
	store    Store
	route    func(*Event, []*Subscription) []*Delivery
	maxBatch int
	// linger is the longest a group smaller than the last waits for more requests; 0 never waits.
	// It is timed by lingerTimer, real time and not clock's: it waits for publishers, and a test's
	// clock moved by hand would hold their publishes until it moved.
	linger      time.Duration
	lingerTimer func(time.Duration) Timer
	// handoff takes fresh due deliveries; nil stores every delivery pending.
	handoff handoff
	clock   Clock
	logger  *slog.Logger
	metrics Metrics
	// owner is the node ID the leases of handed-over work carry.
	owner string

	reqs chan *ingestRequest
	Loop
}

// handoff is what the ingester needs of the dispatcher.
type handoff interface {
	// reserve takes room for w without waiting; unreserve gives back what was reserved for
	// works. A refusal says whether the room will be told free by notify (the subscription's, its
	// host's or the node's room in the gate is full): the claim would not take that delivery now.
	reserve(w *Work) (ok, toldWhenFree bool)
	unreserve(works []*Work)
	// lease is how long handed-over work stays leased.
	lease() time.Duration
	// dispatch delivers leased work in slots reserved for it; giveBack ends the leases of
	// reserved work that will not be delivered now, and frees its slots.
	dispatch(works []*Work)
	giveBack(works []*Work)
	// notify says that pending work is due.
	notify()
}

type ingestRequest struct {
	ctx    context.Context
	events []*Event
	reply  chan ingestReply
}

type ingestReply struct {
	results []IngestResult
	err     error
}

func newIngester(store Store, route func(*Event, []*Subscription) []*Delivery, maxBatch int, linger time.Duration, handoff handoff, clock Clock, logger *slog.Logger) *ingester {
	g := &ingester{
		store: store, route: route, maxBatch: maxBatch, linger: linger, lingerTimer: SystemClock{}.NewTimer, handoff: handoff, clock: clock, logger: logger, metrics: NopMetrics{},
		reqs: make(chan *ingestRequest, 1024),
	}
	g.Run = g.run
	return g
}

// submit commits events and returns their results in order.
func (g *ingester) submit(ctx context.Context, events []*Event) ([]IngestResult, error) {
	req := &ingestRequest{ctx: ctx, events: events, reply: make(chan ingestReply, 1)}
	select {
	case g.reqs <- req:
	case <-g.Done():
		return nil, fmt.Errorf("publish: %w", ErrUnavailable)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, the request is answered whatever ctx does: a caller that gave up still has its
	// events committed, and the next caller with the same idempotency key sees them. A request
	// queued as the ingester stopped is answered by nobody, and was never committed.
	select {
	case r := <-req.reply:
		return r.results, r.err
	case <-g.Done():
		select {
		case r := <-req.reply:
			return r.results, r.err
		default:
			return nil, fmt.Errorf("publish: %w", ErrUnavailable)
		}
	}
}

// run commits batches until ctx ends, then answers what is queued with ErrUnavailable.
func (g *ingester) run(ctx context.Context) {
	lastRequests := 0
	for {
		var first *ingestRequest
		select {
		case first = <-g.reqs:
		case <-ctx.Done():
			g.drain()
			return
		}
		batch, n := g.gather(ctx, first, lastRequests)
		lastRequests = len(batch)
		g.commit(batch, n)
	}
}

// lingerAfter is the smallest last group that makes the next one wait: two or three publishes meet
// in a group by chance at low rates, and waiting for them to meet again only added latency (the
// noisy-neighbour row of the load generator: p50 from 47 to 55 ms with every group waiting, 50 with
// this bound).
const lingerAfter = 4

// gather adds to first what is queued, up to maxBatch events, and then, while the group has fewer
// requests than the last one had (wanted, when at least lingerAfter), what arrives within linger.
func (g *ingester) gather(ctx context.Context, first *ingestRequest, wanted int) ([]*ingestRequest, int) {
	batch := []*ingestRequest{first}
	n := len(first.events)
queued:
	for n < g.maxBatch {
		select {
		case req := <-g.reqs:
			batch = append(batch, req)
			n += len(req.events)
		default:
			break queued
		}
	}
	if g.linger <= 0 || wanted < lingerAfter || len(batch) >= wanted || n >= g.maxBatch {
		return batch, n
	}
	t := g.lingerTimer(g.linger)
	defer t.Stop()
	for len(batch) < wanted && n < g.maxBatch {
		select {
		case req := <-g.reqs:
			batch = append(batch, req)
			n += len(req.events)
		case <-t.C():
			return batch, n
		case <-ctx.Done():
			return batch, n
		}
	}
	return batch, n
}

func (g *ingester) commit(batch []*ingestRequest, n int) {
	events := make([]*Event, 0, n)
	for _, req := range batch {
		events = append(events, req.events...)
	}
	var handed []*Work
	var parties *Parties
	// wake: a delivery stored pending may be claimed now. One the gate had no room for may not: the
	// gate wakes the claim when its subscription's queue drains, and waking it for each batch of a
	// burst made half its claims come back empty.
	wake := false
	route := g.route
	if g.handoff != nil {
		parties = &Parties{}
		route = func(ev *Event, subs []*Subscription) []*Delivery {
			deliveries := g.route(ev, subs)
			// Read after routing: a delivery due now is due at the router's now, not later.
			now := g.clock.Now()
			lease := now.Add(g.handoff.lease())
			next := 0 // deliveries come in the order of subs, so one pass finds each one's
			for _, d := range deliveries {
				// An ordered delivery waits for its turn in the claim, which alone sees whether an
				// earlier one of its queue is still undone; handing it over would overtake that.
				if d.OrderingKey != "" || d.NextAttemptAt.After(now) {
					wake = true
					continue
				}
				var sub *Subscription
				sub, next = subscriptionByID(subs, next, d.SubscriptionID)
				// A paused subscription's deliveries are stored pending, for its resumption.
				if sub == nil || sub.PausedAt != nil {
					continue
				}
				w := &Work{Delivery: d, Event: ev, Subscription: sub}
				if ok, toldWhenFree := g.handoff.reserve(w); !ok {
					wake = wake || !toldWhenFree
					continue
				}
				d.State, d.LeaseUntil, d.LeaseOwner = DeliveryInFlight, &lease, g.owner
				handed = append(handed, w)
				parties.AppIDs = append(parties.AppIDs, d.AppID)
				parties.AccountIDs = append(parties.AccountIDs, sub.AccountID)
			}
			return deliveries
		}
	}
	// The commit must not be cut short by one caller's context, nor by shutdown: the callers are
	// waiting for its outcome.
	started := time.Now()
	results, err := g.store.Ingest(context.Background(), IngestParams{Events: events, Route: route, Parties: parties})
	g.metrics.IngestCommitted(len(events), time.Since(started), err)
	if err != nil {
		g.logger.Error("ingest batch failed", "events", len(events), "requests", len(batch), "err", err)
		if len(handed) > 0 {
			g.handoff.unreserve(handed)
			handed = nil
		}
	}
	created := 0
	offset := 0
	for _, req := range batch {
		reply := ingestReply{err: err}
		if err == nil {
			reply.results = results[offset : offset+len(req.events)]
			for _, r := range reply.results {
				created += r.Deliveries
			}
		}
		offset += len(req.events)
		req.reply <- reply
	}
	if len(handed) > 0 {
		g.handOver(handed, parties)
	}
	if created > len(handed) && g.handoff != nil && wake {
		g.handoff.notify()
	}
}

// handOver completes the handed-over work with the apps and accounts the ingest transaction read
// for it (Parties) and starts delivering it. Should one be missing, the leases are given back
// instead, and the work is claimed again.
func (g *ingester) handOver(works []*Work, parties *Parties) {
	for _, w := range works {
		app, account := parties.Apps[w.Delivery.AppID], parties.Accounts[w.Subscription.AccountID]
		if app == nil || account == nil {
			g.logger.Error("hand over deliveries; they are claimed again", "deliveries", len(works),
				"err", fmt.Sprintf("the ingest read no app %q or account %q", w.Delivery.AppID, w.Subscription.AccountID))
			g.handoff.giveBack(works)
			return
		}
		w.App, w.Account = app, account
	}
	g.handoff.dispatch(works)
}

func subscriptionByID(subs []*Subscription, from int, id string) (*Subscription, int) {
	for i := from; i < len(subs); i++ {
		if subs[i].ID == id {
			return subs[i], i + 1
		}
	}
	// Not after from: a route that changed the order. Search all, and start over next time.
	for _, s := range subs {
		if s.ID == id {
			return s, 0
		}
	}
	return nil, 0
}

func (g *ingester) drain() {
	for {
		select {
		case req := <-g.reqs:
			req.reply <- ingestReply{err: fmt.Errorf("publish: %w", ErrUnavailable)}
		default:
			return
		}
	}
}
