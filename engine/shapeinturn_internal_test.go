package engine

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine/outbound"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// shapeRecorder is a plugin that records the order of its shape calls and how many ran at once,
// and sends the delivery ID as the body. slow, when set, is a delivery whose shape takes a while.
type shapeRecorder struct {
	name      string
	sandboxed bool
	slow      string

	mu               sync.Mutex
	order            []string
	running, mostRan int
}

func (p *shapeRecorder) Manifest() sdk.Manifest { return sdk.Manifest{Name: p.name} }
func (p *shapeRecorder) Version() string        { return p.name + "@test" }
func (p *shapeRecorder) Has(string) bool        { return false }
func (p *shapeRecorder) Sandboxed() bool        { return p.sandboxed }
func (p *shapeRecorder) OnSubscribe(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Request, error) {
	return nil, nil
}
func (p *shapeRecorder) OnResponse(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Verdict, error) {
	return nil, nil
}

func (p *shapeRecorder) Shape(_ context.Context, in *sdk.Input, _ *signing.Keyring) (*sdk.Request, error) {
	p.mu.Lock()
	p.order = append(p.order, in.Delivery.ID)
	p.running++
	p.mostRan = max(p.mostRan, p.running)
	p.mu.Unlock()
	if in.Delivery.ID == p.slow {
		time.Sleep(20 * time.Millisecond)
	} else {
		// Long enough that shapes running at once overlap.
		time.Sleep(time.Millisecond)
	}
	p.mu.Lock()
	p.running--
	p.mu.Unlock()
	return &sdk.Request{Method: "POST", Body: []byte(in.Delivery.ID)}, nil
}

// TestDeliveriesLetThroughTogetherAreShapedInTurn: deliveries of one trusted plugin claimed or
// handed over together are shaped one after another, in order, each sent once; a shape slower
// than the dispatcher's turn (maxShapeTurn) makes the worker hand the rest out to be shaped at
// once; a sandboxed plugin's deliveries are shaped each on its own worker.
func TestDeliveriesLetThroughTogetherAreShapedInTurn(t *testing.T) {
	var received sync.Map
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, _ := received.LoadOrStore(string(body), new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	client := outbound.NewClient(outbound.Config{Guard: outbound.NewGuard([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil)})
	defer client.Close()

	for _, tc := range []struct {
		name       string
		plugin     *shapeRecorder
		inTurn     bool // shaped one at a time, in order
		handedOver bool // some shaped at once after the slow one
	}{
		{name: "trusted", plugin: &shapeRecorder{name: "trusted"}, inTurn: true},
		{name: "trusted, one slow", plugin: &shapeRecorder{name: "slow", slow: "d0"}, handedOver: true},
		{name: "sandboxed", plugin: &shapeRecorder{name: "sandboxed", sandboxed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plugins := NewPlugins()
			plugins.Put(tc.plugin)
			cfg := DispatcherConfig{Concurrency: 16, MaxPerSubscription: 16, MaxPerHost: 16}.WithDefaults()
			d := newDispatcher(cfg, nil, plugins, client, SystemClock{}, slog.New(slog.DiscardHandler), &styleHooks{})
			if tc.plugin.slow == "" {
				// Eight shapes of a millisecond: past maxShapeTurn on a slow machine.
				d.shapeTurn = time.Minute
			}
			d.workCtx, d.workCancel = context.WithCancel(context.Background())
			defer d.workCancel()

			sub := &Subscription{ID: "sub_" + tc.plugin.name, AccountID: "acc_1", URL: receiver.URL, Format: tc.plugin.name, State: SubscriptionActive}
			var works []*Work
			var ids []string
			for i := range 8 {
				id := "d" + string(rune('0'+i))
				ids = append(ids, id)
				works = append(works, &Work{Subscription: sub, Event: &Event{ID: "ev_" + id, Type: "client.create", AccountID: "acc_1"},
					Delivery: &Delivery{ID: id}})
				d.slots <- struct{}{}
			}
			d.startAll(works, false)
			for range works {
				select {
				case res := <-d.results:
					if res.outcome == nil || res.outcome.State != DeliverySucceeded {
						t.Fatalf("a delivery ended %+v, want delivered", res)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("not every delivery ended")
				}
			}
			d.inFlight.Wait()
			d.workers.stop()

			p := tc.plugin
			if tc.inTurn && (!slices.Equal(p.order, ids) || p.mostRan != 1) {
				t.Errorf("shaped %v with at most %d at once; want %v one at a time", p.order, p.mostRan, ids)
			}
			if !tc.inTurn && p.mostRan < 2 {
				t.Errorf("shapes ran %d at once at most; want the deliveries shaped side by side", p.mostRan)
			}
			if tc.handedOver && p.order[0] != "d0" {
				t.Errorf("shaped %v; want the slow d0 first, the rest after it", p.order)
			}
			for _, id := range ids {
				n, ok := received.LoadAndDelete(id)
				if !ok || n.(*atomic.Int32).Load() != 1 {
					t.Errorf("%s was not received exactly once", id)
				}
			}
		})
	}
}
