package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/sdk"
)

type trustedManifest struct{ manifestOnly }

func (trustedManifest) Sandboxed() bool { return false }

// TestPluginTimeoutCapped (issue 15, finding 3): an uploaded plugin asking for a 300 s delivery
// timeout gets the operator's cap; a trusted one gets what it asks; the operator's per-format
// setting is not capped; and the default lease covers the cap.
func TestPluginTimeoutCapped(t *testing.T) {
	cfg := DispatcherConfig{}.WithDefaults()
	cfg.FormatTimeouts = map[string]time.Duration{"slowbyoperator": 5 * time.Minute}
	d := &dispatcher{cfg: cfg}
	long := sdk.Manifest{Name: "slow", DeliveryTimeoutMS: 300_000}
	if got := d.timeoutFor(manifestOnly{long}); got != cfg.MaxPluginTimeout {
		t.Errorf("sandboxed plugin asking 300s gets %v, want the cap %v", got, cfg.MaxPluginTimeout)
	}
	if got := d.timeoutFor(trustedManifest{manifestOnly{long}}); got != 300*time.Second {
		t.Errorf("trusted plugin asking 300s gets %v", got)
	}
	if got := d.timeoutFor(manifestOnly{sdk.Manifest{Name: "slowbyoperator", DeliveryTimeoutMS: 1000}}); got != 5*time.Minute {
		t.Errorf("operator's format timeout: %v", got)
	}
	if got := d.timeoutFor(manifestOnly{sdk.Manifest{Name: "quick", DeliveryTimeoutMS: 2000}}); got != 2*time.Second {
		t.Errorf("a plugin under the cap: %v", got)
	}
	if cfg.Lease < 2*cfg.MaxPluginTimeout {
		t.Errorf("default lease %v does not cover the plugin timeout cap %v", cfg.Lease, cfg.MaxPluginTimeout)
	}
}

// gateProbe drives a gate in a test: admit says what became of a delivery, done what the end of a
// pass let through in its place.
type gateProbe struct {
	t   *testing.T
	g   *gate
	now time.Time
}

func newGateProbe(t *testing.T, perSub, perHost int) *gateProbe {
	cfg := DispatcherConfig{MaxPerSubscription: perSub, MaxPerHost: perHost, BreakerThreshold: 2, BreakerCooldown: time.Minute}
	return &gateProbe{t: t, g: newGate(cfg.WithDefaults()), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// admit admits a delivery with id to sub and checks the outcome: "go", "wait" (in the gate) or
// "back" (to the store).
func (gp *gateProbe) admit(sub *Subscription, id, want string) admission {
	gp.t.Helper()
	return gp.admitWork(&Work{Subscription: sub, Delivery: &Delivery{ID: id}}, want)
}

func (gp *gateProbe) admitWork(w *Work, want string) admission {
	gp.t.Helper()
	id := w.Delivery.ID
	got := gp.g.admit(w, gp.now, time.Second, false)
	outcome := "back"
	switch {
	case got.pass != nil:
		outcome = "go"
	case got.queued:
		outcome = "wait"
	}
	if outcome != want {
		gp.t.Fatalf("%s: %s (wait %v), want %s", id, outcome, got.wait, want)
	}
	return got
}

// done ends p and checks which delivery, if any ("none"), went in its slot.
func (gp *gateProbe) done(p *pass, answered, timedOut bool, want string) ending {
	gp.t.Helper()
	e := gp.g.done(p, gp.now, answered, timedOut)
	got := "none"
	if e.next != nil {
		got = e.next.Delivery.ID
	}
	if got != want {
		gp.t.Fatalf("the freed slot went to %s, want %s", got, want)
	}
	return e
}

// empty checks that the gate counts nothing once every pass ended.
func (gp *gateProbe) empty() {
	g := gp.g
	if len(g.perSub)+len(g.perHost)+len(g.queue)+len(g.turns)+len(g.queuedHost)+len(g.reservedSub)+len(g.reservedHost)+
		len(g.hostOf)+len(g.saturatedSub)+len(g.saturatedHost)+len(g.waitingSub)+len(g.waitingHost) != 0 || g.waiting != 0 || g.saturatedBytes {
		gp.t.Errorf("counts left after every pass ended: %v %v %v %v %v %v; bytes %v %v %d", g.perSub, g.perHost, g.queue, g.turns, g.queuedHost, g.hostOf,
			g.waitingSub, g.waitingHost, g.waiting)
	}
}

// TestGateQueuesOverTheCaps: caps per subscription and per host (whatever the port); a delivery
// over a cap waits in the gate, up to eight caps' worth of its subscription but never more than
// half its host's four caps' worth, and goes in the slot of the first delivery to end that it may
// take; the claim is told to skip whoever has more than half of that in the gate, and told when
// that ends.
func TestGateQueuesOverTheCaps(t *testing.T) {
	if subDepth != 8 || hostDepth != 4 {
		t.Fatalf("the counts below are written for depths 8 and 4, not %d and %d", subDepth, hostDepth)
	}
	gp := newGateProbe(t, 1, 4) // a subscription holds 8 in the gate, a host 16
	a := &Subscription{ID: "a", URL: "http://hooks.example:8080/a"}
	b := &Subscription{ID: "b", URL: "http://HOOKS.example:9090/b"}
	c := &Subscription{ID: "c", URL: "http://hooks.example/c"}
	d := &Subscription{ID: "d", URL: "http://other.example/d"}

	a1 := gp.admit(a, "a1", "go")
	for i := 2; i <= 8; i++ {
		gp.admit(a, fmt.Sprint("a", i), "wait") // a's cap of 1 is full
	}
	gp.admit(a, "a9", "back") // a has 8 in the gate: eight times its cap, half its host's room
	b1 := gp.admit(b, "b1", "go")
	for i := 2; i <= 8; i++ {
		gp.admit(b, fmt.Sprint("b", i), "wait")
	}
	c1 := gp.admit(c, "c1", "go") // the host's third in flight
	gp.admit(c, "c2", "back")     // the host has 17 in the gate: over four times its cap
	d1 := gp.admit(d, "d1", "go") // another host is another count
	if got := gp.g.load(); got["a"] != 8 || got["b"] != 8 || got["c"] != 1 || got["d"] != 1 {
		t.Errorf("load %v, want a 8, b 8, c 1, d 1", got)
	}
	// a and b have more than half their room in the gate, and their host (c's too) more than half
	// its own.
	if got := gp.g.blocked(gp.now); !slices.Equal(sorted(got), []string{"a", "b", "c"}) {
		t.Errorf("blocked %v, want a, b and c", got)
	}
	gp.done(c1.pass, true, false, "none") // a and b are at their caps: the host's slot stays free
	p := a1.pass
	for _, next := range []string{"a2", "a3", "a4", "a5"} { // b is at its cap: a's own queue takes the slot
		p = gp.done(p, true, false, next).nextPass
	}
	if got := gp.g.blocked(gp.now); !slices.Equal(sorted(got), []string{"a", "b"}) {
		t.Errorf("with 4 of a and 12 of the host in the gate: blocked %v, want a (by its host) and b", got)
	}
	q := b1.pass
	for _, next := range []string{"b2", "b3", "b4"} {
		q = gp.done(q, true, false, next).nextPass
	}
	end := gp.g.done(q, gp.now, true, false)
	if end.next == nil || end.next.Delivery.ID != "b5" || !end.freed || len(gp.g.blocked(gp.now)) != 0 {
		t.Errorf("b's queue down to 4 and the host's to 8: next %v, freed %v, blocked %v; want b5, freed, none blocked",
			end.next, end.freed, gp.g.blocked(gp.now))
	}
	q = end.nextPass
	for _, next := range []string{"a6", "a7", "a8", "none"} {
		p = gp.done(p, true, false, next).nextPass
	}
	for _, next := range []string{"b6", "b7", "b8", "none"} {
		q = gp.done(q, true, false, next).nextPass
	}
	gp.done(d1.pass, true, false, "none")
	gp.empty()

	// A host with a small cap: no one subscription takes more than half its room.
	gp = newGateProbe(t, 4, 2) // a subscription holds min(32, 4) in the gate, the host 8
	gp.admit(a, "a1", "go")
	gp.admit(a, "a2", "go")
	gp.admit(a, "a3", "wait") // the host's cap of 2 is full
	gp.admit(a, "a4", "wait")
	gp.admit(a, "a5", "back") // half the host's room
	gp.admit(b, "b1", "wait") // the rest is b's
	if got := gp.g.load(); got["a"] != 4 || got["b"] != 1 {
		t.Errorf("load %v, want a 4, b 1", got)
	}
}

// TestGateHostTurns: subscriptions waiting for one host's slots take them in turn; one whose own
// delivery ended does not jump the line.
func TestGateHostTurns(t *testing.T) {
	gp := newGateProbe(t, 10, 3)
	a := &Subscription{ID: "a", URL: "http://hooks.example/a"}
	b := &Subscription{ID: "b", URL: "http://hooks.example/b"}
	a1, a2, b1 := gp.admit(a, "a1", "go"), gp.admit(a, "a2", "go"), gp.admit(b, "b1", "go")
	gp.admit(a, "a3", "wait")
	gp.admit(a, "a4", "wait")
	gp.admit(b, "b2", "wait")
	a3 := gp.done(a1.pass, true, false, "a3").nextPass
	b2 := gp.done(a3, true, false, "b2").nextPass // not a4: a had its turn
	a4 := gp.done(b1.pass, true, false, "a4").nextPass
	for _, p := range []*pass{a2.pass, b2, a4} {
		gp.done(p, true, false, "none")
	}
	gp.empty()
}

// TestGateBreaker: the circuit's open, half-open and closed turns on the test's times; its
// opening sends what waited behind it back to the store, and nothing waits beside a probe.
func TestGateBreaker(t *testing.T) {
	gp := newGateProbe(t, 2, 10)
	a := &Subscription{ID: "a", URL: "http://hooks.example:8080/a"}
	a1, a2 := gp.admit(a, "a1", "go"), gp.admit(a, "a2", "go")
	gp.admit(a, "a3", "wait")
	gp.admit(a, "a4", "wait")
	// Two timeouts in a row open a's circuit.
	a3 := gp.done(a1.pass, false, true, "a3").nextPass
	end := gp.done(a2.pass, false, true, "none")
	if end.opened == nil || !end.opened.Until.Equal(gp.now.Add(time.Minute)) || len(end.dropped) != 1 || end.dropped[0].Delivery.ID != "a4" {
		t.Fatalf("after 2 timeouts: opened %+v, dropped %v; want open for a minute, a4 sent back", end.opened, end.dropped)
	}
	if c := gp.g.state("a", gp.now); c.State != CircuitOpen {
		t.Fatalf("after 2 timeouts: %+v", c)
	}
	start := gp.now
	gp.now = start.Add(10 * time.Second)
	if got := gp.admit(a, "a5", "back"); got.wait != 50*time.Second {
		t.Fatalf("open circuit: back for %v, want 50s", got.wait)
	}
	// Half open: one probe, and nothing waits beside it; it times out, and the circuit opens for
	// twice as long.
	gp.now = start.Add(time.Minute)
	if c := gp.g.state("a", gp.now); c.State != CircuitHalfOpen {
		t.Fatalf("after the cooldown: %+v", c)
	}
	probe := gp.admit(a, "a6", "go").pass
	if !probe.probe {
		t.Fatal("no probe when half open")
	}
	gp.admit(a, "a7", "back")
	gp.done(probe, false, true, "none")
	if c := gp.g.state("a", gp.now); c.State != CircuitOpen || !c.Until.Equal(gp.now.Add(2*time.Minute)) {
		t.Fatalf("after a failed probe: %+v", c)
	}
	// The receiver answers the next probe: closed, and nothing is counted against a any more.
	gp.now = gp.now.Add(2 * time.Minute)
	probe = gp.admit(a, "a8", "go").pass
	gp.done(probe, true, false, "none")
	if c := gp.g.state("a", gp.now); c.State != CircuitClosed || c.Until != nil {
		t.Fatalf("after an answered probe: %+v", c)
	}
	gp.done(a3, true, false, "none")
	gp.empty()
}

// TestGateReservesAndCloses: the ingester's reservations count as the gate's own, up to subDepth
// caps' worth; closing the gate hands back what waits and queues nothing more.
func TestGateReservesAndCloses(t *testing.T) {
	gp := newGateProbe(t, 2, 100)
	g := gp.g
	a := &Subscription{ID: "a", URL: "http://hooks.example/a"}
	aw := &Work{Subscription: a}
	g.reserve(aw)
	g.unreserve(aw)
	gp.empty()
	room := subDepth * 2
	for i := range room {
		if ok, _ := g.reserve(aw); !ok {
			t.Fatalf("reservation %d refused under %d times the cap", i+1, subDepth)
		}
	}
	if ok, full := g.reserve(aw); ok || !full {
		t.Fatalf("reservation %d for a cap of 2: %v, full %v; want refused as full", room+1, ok, full)
	}
	if got := g.load()["a"]; got != room {
		t.Errorf("load with %d reserved: %d", room, got)
	}
	var outcomes []string
	for i := range room {
		got := g.admit(&Work{Subscription: a, Delivery: &Delivery{ID: fmt.Sprint(i)}}, gp.now, time.Second, true)
		outcomes = append(outcomes, fmt.Sprintf("%v/%v", got.pass != nil, got.queued))
	}
	want := []string{"true/false", "true/false"}
	for len(want) < room {
		want = append(want, "false/true")
	}
	if !slices.Equal(outcomes, want) {
		t.Errorf("reserved deliveries admitted as %v, want 2 going and %d waiting", outcomes, room-2)
	}
	if back := g.close(); len(back) != room-2 {
		t.Fatalf("close handed back %d, want the %d waiting", len(back), room-2)
	}
	if got := g.admit(&Work{Subscription: a, Delivery: &Delivery{ID: "late"}}, gp.now, time.Second, false); got.queued || got.pass != nil {
		t.Errorf("a closed gate took %+v, want it sent back", got)
	}
	if ok, full := g.reserve(aw); ok || full {
		t.Errorf("a closed gate: reserved %v, full %v; want refused, not as full (its drain wakes nobody)", ok, full)
	}
}

// TestGateBoundsWaitingBytes: what waits in the gate is bounded in bytes as well as counts, a
// subscription to an eighth of MaxQueuedBytes, a host to a quarter and the gate to all of it; past
// a bound a delivery goes back to the store (a reservation is refused as full), and the claim
// skips whoever holds more than half of theirs, and while more than half the gate's bytes wait,
// every subscription at a cap. Draining gives every byte back.
func TestGateBoundsWaitingBytes(t *testing.T) {
	cfg := DispatcherConfig{MaxPerSubscription: 1, MaxPerHost: 100, MaxQueuedBytes: 64 << 10}
	gp := &gateProbe{t: t, g: newGate(cfg.WithDefaults()), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := gp.g
	data := json.RawMessage(strings.Repeat("x", 4<<10-workOverhead)) // 4 KiB in the gate each
	sub := func(host, id string) *Subscription { return &Subscription{ID: id, URL: "https://" + host + "/" + id} }
	work := func(s *Subscription, n int) *Work {
		return &Work{Subscription: s, Delivery: &Delivery{ID: fmt.Sprint(s.ID, n)}, Event: &Event{Data: data}}
	}
	var passes []*pass
	admit := func(s *Subscription, n int, want string) {
		t.Helper()
		if a := gp.admitWork(work(s, n), want); a.pass != nil {
			passes = append(passes, a.pass)
		}
	}
	blocked := func() []string { return sorted(g.blocked(gp.now)) }

	a, b, c := sub("one.example", "a"), sub("one.example", "b"), sub("one.example", "c")
	admit(a, 1, "go")
	admit(a, 2, "wait")
	admit(a, 3, "wait")
	admit(a, 4, "back") // a holds 8 KiB waiting: an eighth of 64
	if got := blocked(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("blocked with a's bytes at its bound: %v, want [a]", got)
	}
	admit(b, 1, "go")
	admit(b, 2, "wait")
	admit(b, 3, "wait")
	admit(c, 1, "go")
	admit(c, 2, "back") // one.example holds 16 KiB waiting: a quarter, though c holds none
	if got := blocked(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("blocked with one.example's bytes at its bound: %v, want [a b c]", got)
	}
	for _, host := range []string{"two.example", "three.example", "four.example"} {
		for _, id := range []string{"x", "y"} {
			s := sub(host, host[:2]+id)
			admit(s, 1, "go")
			admit(s, 2, "wait")
			admit(s, 3, "wait")
		}
	}
	v := sub("five.example", "v")
	admit(v, 1, "go")
	admit(v, 2, "back") // the gate holds 64 KiB waiting, though v and five.example hold none
	if g.waiting != 64<<10 {
		t.Fatalf("the gate counts %d bytes waiting, want %d", g.waiting, 64<<10)
	}
	if got := blocked(); !slices.Contains(got, "v") {
		t.Fatalf("blocked with more than half the gate's bytes waiting: %v, want v (at its cap) in it", got)
	}
	r := work(sub("six.example", "r"), 1)
	if ok, full := g.reserve(r); ok || !full {
		t.Fatalf("a reservation with the gate's bytes at their bound: %v, full %v; want refused as full", ok, full)
	}

	freed := false
	for len(passes) > 0 {
		p := passes[0]
		passes = passes[1:]
		e := g.done(p, gp.now, true, false)
		freed = freed || e.freed
		if e.nextPass != nil {
			passes = append(passes, e.nextPass)
		}
	}
	if !freed {
		t.Error("draining the gate never told the claim that room was freed")
	}
	if got := blocked(); len(got) != 0 {
		t.Errorf("blocked after the drain: %v", got)
	}
	if ok, _ := g.reserve(r); !ok || g.waiting != 4<<10 {
		t.Fatalf("a reservation in an empty gate: %v, %d bytes waiting; want taken, 4 KiB", ok, g.waiting)
	}
	g.unreserve(r)
	gp.empty()
}

func sorted(s []string) []string { slices.Sort(s); return s }
