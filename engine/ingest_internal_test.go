package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// routingStore is a Store whose Ingest routes each event over fixed subscriptions and keeps the
// deliveries as they would be stored; it has nothing else but apps and accounts.
type routingStore struct {
	Store
	subs   []*Subscription
	fail   error
	stored []*Delivery
}

func (s *routingStore) Ingest(_ context.Context, p IngestParams) ([]IngestResult, error) {
	var out []IngestResult
	for _, ev := range p.Events {
		ds := p.Route(ev, s.subs)
		s.stored = append(s.stored, ds...)
		out = append(out, IngestResult{EventID: ev.ID, Deliveries: len(ds)})
	}
	return out, s.fail
}

func (s *routingStore) GetApp(_ context.Context, id string) (*App, error) { return &App{ID: id}, nil }
func (s *routingStore) GetAccount(_ context.Context, id string) (*Account, error) {
	return &Account{ID: id}, nil
}

// slotsHandoff is a dispatcher with a fixed number of free slots that records what it is given.
type slotsHandoff struct {
	mu         sync.Mutex
	free       int
	full       bool // a refusal is the gate's full queue, which wakes the claim when it drains
	dispatched []*Work
	notified   int
}

func (h *slotsHandoff) reserve(*Work) (ok, toldWhenFree bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.free == 0 {
		return false, h.full
	}
	h.free--
	return true, false
}
func (h *slotsHandoff) unreserve(ws []*Work) { h.mu.Lock(); h.free += len(ws); h.mu.Unlock() }
func (h *slotsHandoff) lease() time.Duration { return time.Minute }
func (h *slotsHandoff) dispatch(ws []*Work) {
	h.mu.Lock()
	h.dispatched = append(h.dispatched, ws...)
	h.mu.Unlock()
}
func (h *slotsHandoff) giveBack(ws []*Work) { h.unreserve(ws) }
func (h *slotsHandoff) notify()             { h.mu.Lock(); h.notified++; h.mu.Unlock() }

// tickingClock moves forward a microsecond at every reading, as a real clock does between two:
// "due now" must survive that.
type tickingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Microsecond)
	return c.now
}

func (c *tickingClock) NewTimer(time.Duration) Timer { panic("the ingester sets no timers") }

// TestIngestHandsFreshDeliveriesToTheDispatcher: a delivery due now goes to the dispatcher already
// leased while it has free slots; the rest are stored pending and the claiming loop is told, unless
// the gate's full queue refused them all.
func TestIngestHandsFreshDeliveriesToTheDispatcher(t *testing.T) {
	t.Parallel()
	clock := &tickingClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	plugins := NewPlugins()
	r := &router{plugins: plugins, now: clock.Now}
	sub := &Subscription{ID: "sub", AppID: "app", AccountID: "acc", Format: "standard", Events: []string{"*"}, State: SubscriptionActive}
	later := clock.Now().Add(time.Hour)
	events := func() []*Event {
		return []*Event{
			{ID: "evt_1", AccountID: "acc", Type: "client.create", Entity: Entity{Type: "client", ID: "1"}},
			{ID: "evt_2", AccountID: "acc", Type: "client.create", Entity: Entity{Type: "client", ID: "2"}},
			{ID: "evt_3", AccountID: "acc", Type: "client.create", Entity: Entity{Type: "client", ID: "3"}, DeliverAt: &later},
		}
	}

	store := &routingStore{subs: []*Subscription{sub}}
	h := &slotsHandoff{free: 1}
	g := newIngester(store, r.route, 100, h, clock, slog.Default())
	g.commit([]*ingestRequest{{events: events(), reply: make(chan ingestReply, 1)}}, 3)

	if len(store.stored) != 3 {
		t.Fatalf("stored %d deliveries, want 3", len(store.stored))
	}
	first, second, third := store.stored[0], store.stored[1], store.stored[2]
	if first.State != DeliveryInFlight || first.LeaseUntil == nil || first.LeaseUntil.Sub(first.NextAttemptAt) < time.Minute {
		t.Errorf("the delivery with a free slot: %s, lease %v; want in_flight, leased for a minute", first.State, first.LeaseUntil)
	}
	if second.State != DeliveryPending || third.State != DeliveryPending || second.LeaseUntil != nil || third.LeaseUntil != nil {
		t.Errorf("without a slot: %s; due later: %s; want both pending, unleased", second.State, third.State)
	}
	if len(h.dispatched) != 1 || h.dispatched[0].Delivery != first || h.dispatched[0].Event.ID != "evt_1" ||
		h.dispatched[0].Subscription != sub || h.dispatched[0].App.ID != "app" || h.dispatched[0].Account.ID != "acc" {
		t.Errorf("dispatched %+v; want the first delivery with its event, subscription, app and account", h.dispatched)
	}
	if h.notified != 1 {
		t.Errorf("the claiming loop was told %d times of pending work, want 1", h.notified)
	}

	// Deliveries refused because their subscription's queue is full wait for it to drain, which
	// wakes the claim; one due later wakes it now, to see when.
	for _, tt := range []struct {
		name   string
		events []*Event
		want   int
	}{
		{"all due now", events()[:2], 0},
		{"one due later", events(), 1},
	} {
		h := &slotsHandoff{full: true}
		g := newIngester(&routingStore{subs: []*Subscription{sub}}, r.route, 100, h, clock, slog.Default())
		g.commit([]*ingestRequest{{events: tt.events, reply: make(chan ingestReply, 1)}}, len(tt.events))
		if h.notified != tt.want {
			t.Errorf("%s, refused by a full queue: the claiming loop was told %d times, want %d", tt.name, h.notified, tt.want)
		}
	}

	// A commit that fails hands nothing over and frees the slots it took.
	store = &routingStore{subs: []*Subscription{sub}, fail: errors.New("disk full")}
	h = &slotsHandoff{free: 5}
	g = newIngester(store, r.route, 100, h, clock, slog.Default())
	req := &ingestRequest{events: events(), reply: make(chan ingestReply, 1)}
	g.commit([]*ingestRequest{req}, 3)
	if reply := <-req.reply; reply.err == nil {
		t.Error("the failed commit was answered without an error")
	}
	if len(h.dispatched) != 0 || h.free != 5 {
		t.Errorf("after a failed commit: %d dispatched, %d slots free; want 0 and 5", len(h.dispatched), h.free)
	}

	// With fan-out, each handed-over delivery carries its own subscription.
	var subs []*Subscription
	for _, id := range []string{"sub_a", "sub_b", "sub_c"} {
		s := *sub
		s.ID = id
		subs = append(subs, &s)
	}
	store = &routingStore{subs: subs}
	h = &slotsHandoff{free: 10}
	g = newIngester(store, r.route, 100, h, clock, slog.Default())
	g.commit([]*ingestRequest{{events: events()[:1], reply: make(chan ingestReply, 1)}}, 1)
	if len(h.dispatched) != 3 {
		t.Fatalf("fan-out 3: %d dispatched, want 3", len(h.dispatched))
	}
	for _, w := range h.dispatched {
		if w.Subscription == nil || w.Subscription.ID != w.Delivery.SubscriptionID {
			t.Errorf("delivery for %s handed over with subscription %+v", w.Delivery.SubscriptionID, w.Subscription)
		}
	}
}
