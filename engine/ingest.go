package engine

import (
	"context"
	"fmt"
	"log/slog"
)

// ingester commits published events in groups: while one transaction commits, the requests that
// arrive wait together for the next. Each request still gets its answer only after its own events
// are committed, so group commit trades nothing in durability for throughput.
type ingester struct {
	store    Store
	route    func(*Event, []*Subscription) []*Delivery
	maxBatch int
	// committed is told after each commit that created deliveries.
	committed func()
	logger    *slog.Logger

	reqs chan *ingestRequest
	done chan struct{}
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

func newIngester(store Store, route func(*Event, []*Subscription) []*Delivery, maxBatch int, committed func(), logger *slog.Logger) *ingester {
	return &ingester{
		store: store, route: route, maxBatch: maxBatch, committed: committed, logger: logger,
		reqs: make(chan *ingestRequest, 1024), done: make(chan struct{}),
	}
}

// submit commits events and returns their results in order.
func (g *ingester) submit(ctx context.Context, events []*Event) ([]IngestResult, error) {
	req := &ingestRequest{ctx: ctx, events: events, reply: make(chan ingestReply, 1)}
	select {
	case g.reqs <- req:
	case <-g.done:
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
	case <-g.done:
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
	defer close(g.done)
	for {
		var first *ingestRequest
		select {
		case first = <-g.reqs:
		case <-ctx.Done():
			g.drain()
			return
		}
		batch := []*ingestRequest{first}
		n := len(first.events)
	gather:
		for n < g.maxBatch {
			select {
			case req := <-g.reqs:
				batch = append(batch, req)
				n += len(req.events)
			default:
				break gather
			}
		}
		g.commit(batch, n)
	}
}

func (g *ingester) commit(batch []*ingestRequest, n int) {
	events := make([]*Event, 0, n)
	for _, req := range batch {
		events = append(events, req.events...)
	}
	// The commit must not be cut short by one caller's context, nor by shutdown: the callers are
	// waiting for its outcome.
	results, err := g.store.Ingest(context.Background(), IngestParams{Events: events, Route: g.route})
	if err != nil {
		g.logger.Error("ingest batch failed", "events", len(events), "requests", len(batch), "err", err)
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
	if created > 0 {
		g.committed()
	}
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
