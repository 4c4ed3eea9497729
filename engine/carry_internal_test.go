package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recordingStore is a routingStore that keeps what it was asked to record: the outcomes an Ingest
// call carried and those Complete wrote alone.
type recordingStore struct {
	routingStore
	mu         sync.Mutex
	carried    [][]*Outcome
	alone      [][]*Outcome
	recordFail error // set as Recorded.Err by Ingest
	aloneFail  error // returned by Complete
}

func (s *recordingStore) Ingest(ctx context.Context, p IngestParams) ([]IngestResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Recorded != nil {
		if s.fail == nil && s.recordFail == nil {
			s.carried = append(s.carried, p.Recorded.Outcomes)
		}
		p.Recorded.Err = s.recordFail
	}
	return s.routingStore.Ingest(ctx, p)
}

func (s *recordingStore) Complete(_ context.Context, outcomes []*Outcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aloneFail == nil {
		s.alone = append(s.alone, outcomes)
	}
	return s.aloneFail
}

// TestIngesterRecordsCarriedOutcomes: outcomes handed to the ingester go into the transaction of
// the events published with them, or into one of their own when none are; recorded alone when
// recording them beside the events failed, or the ingest did; and recorded when the ingester stops
// with them queued. Each hand-over's done is told the result once.
func TestIngesterRecordsCarriedOutcomes(t *testing.T) {
	t.Parallel()
	clock := &tickingClock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	r := &router{plugins: NewPlugins(), now: clock.Now}
	sub := &Subscription{ID: "sub", AppID: "app", AccountID: "acc", Format: "standard", Events: []string{"*"}, State: SubscriptionActive}
	outcomes := func(id string) []*Outcome {
		return []*Outcome{{Attempt: &Attempt{DeliveryID: id}, State: DeliverySucceeded, SubscriptionID: "sub"}}
	}
	publish := func(g *ingester) *ingestRequest {
		req := &ingestRequest{ctx: context.Background(), reply: make(chan ingestReply, 1),
			events: []*Event{{ID: NewID("evt"), AccountID: "acc", Type: "client.create"}}}
		g.reqs <- req
		return req
	}
	// carry hands outcomes of delivery id over and returns where its done's result will come.
	carry := func(t *testing.T, g *ingester, id string) chan error {
		t.Helper()
		done := make(chan error, 2)
		if !g.carry(outcomes(id), func(err error) { done <- err }) {
			t.Fatalf("carry(%s) refused by a running ingester", id)
		}
		return done
	}
	wantDone := func(t *testing.T, what string, done chan error, want error) {
		t.Helper()
		select {
		case err := <-done:
			if !errors.Is(err, want) {
				t.Errorf("%s: done(%v); want done(%v)", what, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: done was not called", what)
		}
		select {
		case err := <-done:
			t.Errorf("%s: done called a second time, with %v", what, err)
		default:
		}
	}
	ids := func(batches [][]*Outcome) (out []string) {
		for _, b := range batches {
			for _, o := range b {
				out = append(out, o.Attempt.DeliveryID)
			}
		}
		return out
	}
	// start queues the requests first, so that run takes them as one group.
	start := func(t *testing.T, store *recordingStore, queue func(g *ingester)) *ingester {
		t.Helper()
		g := newIngester(store, r.route, 100, 0, &slotsHandoff{}, clock, slog.Default())
		g.setOpen(true) // as run does first: the requests below are queued before it runs
		queue(g)
		if err := g.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Stop(context.Background()) })
		return g
	}

	t.Run("beside published events", func(t *testing.T) {
		store := &recordingStore{routingStore: routingStore{subs: []*Subscription{sub}}}
		var done chan error
		var req *ingestRequest
		start(t, store, func(g *ingester) { done = carry(t, g, "dlv_1"); req = publish(g) })
		wantDone(t, "carried beside an event", done, nil)
		if reply := <-req.reply; reply.err != nil || len(reply.results) != 1 {
			t.Errorf("the publish beside the outcomes: %+v", reply)
		}
		if got := ids(store.carried); len(got) != 1 || got[0] != "dlv_1" || len(store.alone) != 0 {
			t.Errorf("carried %v, alone %v; want dlv_1 carried in the ingest", got, ids(store.alone))
		}
	})

	t.Run("alone without published events", func(t *testing.T) {
		store := &recordingStore{routingStore: routingStore{subs: []*Subscription{sub}}}
		var done chan error
		start(t, store, func(g *ingester) { done = carry(t, g, "dlv_2") })
		wantDone(t, "carried alone", done, nil)
		if got := ids(store.alone); len(got) != 1 || got[0] != "dlv_2" || len(store.carried) != 0 {
			t.Errorf("alone %v, carried %v; want dlv_2 recorded alone", got, ids(store.carried))
		}
	})

	for _, tt := range []struct {
		name       string
		recordFail error
		ingestFail error
	}{
		{"alone after recording beside the events failed", errors.New("attempts refused"), nil},
		{"alone after the ingest failed", nil, errors.New("disk full")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := &recordingStore{routingStore: routingStore{subs: []*Subscription{sub}, fail: tt.ingestFail}, recordFail: tt.recordFail}
			var done chan error
			var req *ingestRequest
			start(t, store, func(g *ingester) { done = carry(t, g, "dlv_3"); req = publish(g) })
			wantDone(t, tt.name, done, nil)
			if got := ids(store.alone); len(got) != 1 || got[0] != "dlv_3" || len(store.carried) != 0 {
				t.Errorf("alone %v, carried %v; want dlv_3 recorded alone", got, ids(store.carried))
			}
			if reply := <-req.reply; (reply.err != nil) != (tt.ingestFail != nil) {
				t.Errorf("the publish: %v; want the ingest's own error, %v", reply.err, tt.ingestFail)
			}
		})
	}

	t.Run("the alone record's error reaches done", func(t *testing.T) {
		failed := errors.New("database gone")
		store := &recordingStore{routingStore: routingStore{subs: []*Subscription{sub}}, aloneFail: failed}
		var done chan error
		start(t, store, func(g *ingester) { done = carry(t, g, "dlv_4") })
		wantDone(t, "recorded alone, failing", done, failed)
	})

	t.Run("queued when the ingester stops", func(t *testing.T) {
		store := &recordingStore{routingStore: routingStore{subs: []*Subscription{sub}}}
		g := newIngester(store, r.route, 100, 0, &slotsHandoff{}, clock, slog.Default())
		if g.carry(outcomes("dlv_5"), func(error) {}) {
			t.Error("carry was taken by an ingester that never ran")
		}
		g.setOpen(true)
		done := carry(t, g, "dlv_6")
		g.setOpen(false) // as run does when it ends, before draining
		g.drain()
		wantDone(t, "queued at the stop", done, nil)
		if got := ids(store.alone); len(got) != 1 || got[0] != "dlv_6" {
			t.Errorf("alone %v; want dlv_6, recorded by the drain", got)
		}
		if g.carry(outcomes("dlv_7"), func(error) {}) {
			t.Error("carry was taken by a stopped ingester")
		}
	})
}

// fakeCarrier keeps the outcomes handed to it until the test finishes them.
type fakeCarrier struct {
	mu      sync.Mutex
	refuse  bool
	batches [][]*Outcome
	dones   []func(error)
}

func (c *fakeCarrier) carry(outcomes []*Outcome, done func(error)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse {
		return false
	}
	c.batches, c.dones = append(c.batches, outcomes), append(c.dones, done)
	return true
}

// TestRecorderCarriesOneBatchAtATime: the recorder hands a batch to the carrier and goes on; while
// that batch is with it, the next is written alone, as is a batch the carrier refuses and one
// holding an ordered delivery's outcome (the next of its queue waits for that record).
func TestRecorderCarriesOneBatchAtATime(t *testing.T) {
	t.Parallel()
	store := &recordingStore{}
	cfg := DispatcherConfig{}.WithDefaults()
	d := newDispatcher(cfg, store, NewPlugins(), nil, SystemClock{}, slog.Default(), nil)
	c := &fakeCarrier{}
	d.carrier = c
	res := func(id string, ordered bool) []result {
		return []result{{outcome: &Outcome{Attempt: &Attempt{DeliveryID: id}, State: DeliverySucceeded, SubscriptionID: "sub"}, ordered: ordered}}
	}

	d.record(res("dlv_1", false))
	d.record(res("dlv_2", false)) // dlv_1's batch is still with the carrier
	c.mu.Lock()
	carried := len(c.batches)
	c.mu.Unlock()
	if carried != 1 || c.batches[0][0].Attempt.DeliveryID != "dlv_1" || len(store.alone) != 1 || store.alone[0][0].Attempt.DeliveryID != "dlv_2" {
		t.Fatalf("carried %d batches, alone %d; want dlv_1 carried and dlv_2 alone", carried, len(store.alone))
	}
	c.dones[0](nil)

	d.record(res("dlv_3", true))
	if len(c.batches) != 1 || len(store.alone) != 2 {
		t.Errorf("an ordered delivery's outcome: carried %d batches, alone %d; want it alone", len(c.batches), len(store.alone))
	}
	c.refuse = true
	d.record(res("dlv_4", false))
	if len(store.alone) != 3 {
		t.Errorf("refused by the carrier: %d batches alone; want 3", len(store.alone))
	}
	c.refuse = false
	d.record(res("dlv_5", false))
	if len(c.batches) != 2 || c.batches[1][0].Attempt.DeliveryID != "dlv_5" {
		t.Errorf("after the first carried batch was done and one refused: %d carried; want dlv_5 carried", len(c.batches))
	}
}
