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
	// leavesOut is an app ID whose row Ingest does not find when IngestParams.Parties names it.
	leavesOut string
}

func (s *routingStore) Ingest(_ context.Context, p IngestParams) ([]IngestResult, error) {
	var out []IngestResult
	for _, ev := range p.Events {
		ds := p.Route(ev, s.subs)
		s.stored = append(s.stored, ds...)
		out = append(out, IngestResult{EventID: ev.ID, Deliveries: len(ds)})
	}
	if p.Parties != nil {
		p.Parties.Apps, p.Parties.Accounts = map[string]*App{}, map[string]*Account{}
		for _, id := range p.Parties.AppIDs {
			if id != s.leavesOut {
				p.Parties.Apps[id] = &App{ID: id, Name: "read in ingest"}
			}
		}
		for _, id := range p.Parties.AccountIDs {
			p.Parties.Accounts[id] = &Account{ID: id, Name: "read in ingest"}
		}
	}
	return out, s.fail
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
	g := newIngester(store, r.route, 100, 0, h, clock, slog.Default())
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
		g := newIngester(&routingStore{subs: []*Subscription{sub}}, r.route, 100, 0, h, clock, slog.Default())
		g.commit([]*ingestRequest{{events: tt.events, reply: make(chan ingestReply, 1)}}, len(tt.events))
		if h.notified != tt.want {
			t.Errorf("%s, refused by a full queue: the claiming loop was told %d times, want %d", tt.name, h.notified, tt.want)
		}
	}

	// A commit that fails hands nothing over and frees the slots it took.
	store = &routingStore{subs: []*Subscription{sub}, fail: errors.New("disk full")}
	h = &slotsHandoff{free: 5}
	g = newIngester(store, r.route, 100, 0, h, clock, slog.Default())
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
	g = newIngester(store, r.route, 100, 0, h, clock, slog.Default())
	g.commit([]*ingestRequest{{events: events()[:1], reply: make(chan ingestReply, 1)}}, 1)
	if len(h.dispatched) != 3 {
		t.Fatalf("fan-out 3: %d dispatched, want 3", len(h.dispatched))
	}
	for _, w := range h.dispatched {
		if w.Subscription == nil || w.Subscription.ID != w.Delivery.SubscriptionID {
			t.Errorf("delivery for %s handed over with subscription %+v", w.Delivery.SubscriptionID, w.Subscription)
		}
	}

	// Handed-over work carries the app and account read in the ingest transaction; work whose app
	// was not found there goes back, its slots freed.
	for _, w := range h.dispatched {
		if w.App == nil || w.App.Name != "read in ingest" || w.App.ID != w.Delivery.AppID ||
			w.Account == nil || w.Account.Name != "read in ingest" || w.Account.ID != w.Subscription.AccountID {
			t.Errorf("handed over with app %+v and account %+v; want those read in the ingest", w.App, w.Account)
		}
	}
	store = &routingStore{subs: subs, leavesOut: sub.AppID}
	h = &slotsHandoff{free: 10}
	g = newIngester(store, r.route, 100, 0, h, clock, slog.Default())
	g.commit([]*ingestRequest{{events: events()[:1], reply: make(chan ingestReply, 1)}}, 1)
	if len(h.dispatched) != 0 || h.free != 10 {
		t.Errorf("the ingest read no app: %d dispatched, %d slots free; want 0 and 10", len(h.dispatched), h.free)
	}
}

// handClock's timers fire when the test says.
type handClock struct {
	timers chan *handTimer
}

type handTimer struct{ c chan time.Time }

func (c *handClock) NewTimer(time.Duration) Timer {
	t := &handTimer{c: make(chan time.Time, 1)}
	c.timers <- t
	return t
}
func (t *handTimer) C() <-chan time.Time { return t.c }
func (t *handTimer) Stop() bool          { return true }

// TestIngestGroupWaitsForTheLastGroupsPublishers: a group with fewer requests than the last (of
// four or more) waits up to the linger for more, and commits as soon as it has as many, at the
// linger's end, or at once when lingering is off, the last group was smaller than four or the group
// is already as large.
func TestIngestGroupWaitsForTheLastGroupsPublishers(t *testing.T) {
	t.Parallel()
	request := func(events int) *ingestRequest { return &ingestRequest{events: make([]*Event, events)} }
	newGroup := func(linger time.Duration, maxBatch int) (*ingester, *handClock) {
		clock := &handClock{timers: make(chan *handTimer, 1)}
		g := newIngester(&routingStore{}, nil, maxBatch, linger, &slotsHandoff{}, &tickingClock{}, slog.Default())
		g.lingerTimer = clock.NewTimer
		return g, clock
	}
	type gathered struct {
		batch []*ingestRequest
		n     int
	}
	timerOf := func(clock *handClock, done <-chan gathered) *handTimer {
		select {
		case timer := <-clock.timers:
			return timer
		case got := <-done:
			t.Fatalf("the group committed %d requests at once, want it to wait for more", len(got.batch))
		case <-time.After(10 * time.Second):
			t.Fatal("the group neither set a timer nor committed")
		}
		return nil
	}
	gather := func(g *ingester, wanted int) <-chan gathered {
		out := make(chan gathered, 1)
		go func() {
			batch, n := g.gather(context.Background(), request(1), wanted)
			out <- gathered{batch, n}
		}()
		return out
	}

	// Three more requests, as the last group had four: the group takes them without the timer.
	g, clock := newGroup(time.Second, 100)
	done := gather(g, 4)
	timer := timerOf(clock, done)
	g.reqs <- request(2)
	g.reqs <- request(1)
	g.reqs <- request(1)
	select {
	case got := <-done:
		if len(got.batch) != 4 || got.n != 5 {
			t.Errorf("with the last group's four back: %d requests, %d events; want 4 and 5", len(got.batch), got.n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the group did not commit with the last group's four back")
	}
	if len(timer.c) != 0 {
		t.Fatal("the test's timer fired by itself")
	}

	// Only one comes back: the group commits when the linger ends.
	g, clock = newGroup(time.Second, 100)
	done = gather(g, 4)
	timer = timerOf(clock, done)
	g.reqs <- request(1)
	select {
	case got := <-done:
		t.Fatalf("the group committed %d requests before its linger ended, want it to wait for more", len(got.batch))
	case <-time.After(50 * time.Millisecond):
	}
	timer.c <- time.Now()
	select {
	case got := <-done:
		if len(got.batch) != 2 {
			t.Errorf("at the linger's end: %d requests, want 2", len(got.batch))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the group did not commit at the linger's end")
	}

	// No wait without lingering, nor for a group as large as the last, nor past maxBatch events.
	for _, tt := range []struct {
		name             string
		linger           time.Duration
		maxBatch, wanted int
		queued           []int
		want             int
	}{
		{"lingering off", 0, 100, 5, []int{1}, 2},
		{"as large as the last", time.Second, 100, 2, []int{1}, 2},
		{"the last group of three", time.Second, 100, 3, []int{1}, 2},
		{"maxBatch events", time.Second, 3, 5, []int{2, 1}, 2},
	} {
		g, clock := newGroup(tt.linger, tt.maxBatch)
		for _, events := range tt.queued {
			g.reqs <- request(events)
		}
		done := gather(g, tt.wanted)
		select {
		case got := <-done:
			if len(got.batch) != tt.want {
				t.Errorf("%s: %d requests, want %d", tt.name, len(got.batch), tt.want)
			}
		case <-clock.timers:
			t.Errorf("%s: the group set a timer", tt.name)
		}
	}
}
