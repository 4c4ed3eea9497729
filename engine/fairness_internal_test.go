package engine

import (
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

// TestGateCapsAndBreaker: the gate's counting, without a node: caps per subscription and per host
// (whatever the port), and the circuit's open, half-open and closed turns on the test's times.
func TestGateCapsAndBreaker(t *testing.T) {
	g := newGate(DispatcherConfig{MaxPerSubscription: 2, MaxPerHost: 3, BreakerThreshold: 2, BreakerCooldown: time.Minute}.WithDefaults())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Subscription{ID: "a", URL: "http://hooks.example:8080/a"}
	b := &Subscription{ID: "b", URL: "http://HOOKS.example:9090/b"}
	var held []*pass
	for i, want := range []bool{true, true, false} {
		p, wait := g.enter(a, now, time.Second)
		if (p != nil) != want || (p == nil && wait != time.Second) {
			t.Fatalf("a's delivery %d: let through %v (wait %v), want %v", i, p != nil, wait, want)
		}
		if p != nil {
			held = append(held, p)
		}
	}
	p, _ := g.enter(b, now, time.Second)
	if p == nil {
		t.Fatal("b's first delivery held back")
	}
	held = append(held, p)
	if p, _ := g.enter(b, now, time.Second); p != nil {
		t.Fatal("a fourth delivery to the host went through a cap of 3")
	}
	// Two timeouts in a row open a's circuit.
	g.done(held[0], now, false, true)
	g.done(held[1], now, false, true)
	if c := g.state("a", now); c.State != CircuitOpen || !c.Until.Equal(now.Add(time.Minute)) {
		t.Fatalf("after 2 timeouts: %+v", c)
	}
	if p, wait := g.enter(a, now.Add(10*time.Second), time.Second); p != nil || wait != 50*time.Second {
		t.Fatalf("open circuit let a delivery through (wait %v)", wait)
	}
	// Half open: one probe; it times out, and the circuit opens for twice as long.
	later := now.Add(time.Minute)
	if c := g.state("a", later); c.State != CircuitHalfOpen {
		t.Fatalf("after the cooldown: %+v", c)
	}
	probe, _ := g.enter(a, later, time.Second)
	if probe == nil || !probe.probe {
		t.Fatal("no probe when half open")
	}
	if p, _ := g.enter(a, later, time.Second); p != nil {
		t.Fatal("a second delivery beside the probe")
	}
	g.done(probe, later, false, true)
	if c := g.state("a", later); c.State != CircuitOpen || !c.Until.Equal(later.Add(2*time.Minute)) {
		t.Fatalf("after a failed probe: %+v", c)
	}
	// The receiver answers the next probe: closed, and nothing is counted against a any more.
	later = later.Add(2 * time.Minute)
	probe, _ = g.enter(a, later, time.Second)
	g.done(probe, later, true, false)
	if c := g.state("a", later); c.State != CircuitClosed || c.Until != nil {
		t.Fatalf("after an answered probe: %+v", c)
	}
	g.done(held[2], later, true, false)
	if len(g.perSub) != 0 || len(g.perHost) != 0 {
		t.Errorf("counts left after every pass ended: %v %v", g.perSub, g.perHost)
	}
}
