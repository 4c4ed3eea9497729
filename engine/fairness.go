package engine

import (
	"net/url"
	"strings"
	"sync"
	"time"
)

// Circuit states.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

// Circuit is a subscription's circuit breaker as the API shows it. While it is open, the
// subscription's deliveries wait until Until (none is dropped, and waiting is not an attempt);
// then it is half open: one delivery goes as a probe, and the receiver answering closes it again.
type Circuit struct {
	State string     `json:"state"`
	Until *time.Time `json:"until,omitempty"`
	// Timeouts is how many attempts in a row timed out.
	Timeouts int `json:"timeouts,omitempty"`
}

// gate admits deliveries to the send: no more than the caps in flight per subscription and per
// destination host, and none to a subscription whose circuit is open. It lives in memory: a
// restart forgets what it counted, which at worst sends a probe's worth too soon.
type gate struct {
	maxPerSub, maxPerHost int
	threshold             int
	cooldown, maxCooldown time.Duration

	mu       sync.Mutex
	perSub   map[string]int
	perHost  map[string]int
	circuits map[string]*circuit
}

type circuit struct {
	timeouts  int
	openUntil time.Time // zero: closed
	cooldown  time.Duration
	probing   bool
}

func newGate(cfg DispatcherConfig) *gate {
	return &gate{
		maxPerSub: cfg.MaxPerSubscription, maxPerHost: cfg.MaxPerHost,
		threshold: cfg.BreakerThreshold, cooldown: cfg.BreakerCooldown, maxCooldown: cfg.BreakerMaxCooldown,
		perSub: map[string]int{}, perHost: map[string]int{}, circuits: map[string]*circuit{},
	}
}

// pass is a delivery let through the gate; done must be called when its attempt ends.
type pass struct {
	sub, host string
	probe     bool
}

// destinationHost is the host a subscription's deliveries go to, without its port: one machine
// that stalls holds up every port it serves.
func destinationHost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// enter lets a delivery of sub through, or says how long it should wait: until the circuit's
// open period ends, or retry (a little later) when a cap is full or a probe is already out.
func (g *gate) enter(sub *Subscription, now time.Time, retry time.Duration) (*pass, time.Duration) {
	host := destinationHost(sub.URL)
	g.mu.Lock()
	defer g.mu.Unlock()
	p := &pass{sub: sub.ID, host: host}
	if c := g.circuits[sub.ID]; c != nil && !c.openUntil.IsZero() {
		if now.Before(c.openUntil) {
			return nil, c.openUntil.Sub(now)
		}
		if c.probing {
			return nil, retry
		}
		p.probe = true
	}
	if g.perSub[sub.ID] >= g.maxPerSub || (host != "" && g.perHost[host] >= g.maxPerHost) {
		return nil, retry
	}
	if p.probe {
		g.circuits[sub.ID].probing = true
	}
	g.perSub[sub.ID]++
	if host != "" {
		g.perHost[host]++
	}
	return p, 0
}

// done ends a pass. answered: the receiver sent a response; timedOut: it did not within the
// timeout. Anything else (a plugin error, a refused connection) leaves the circuit as it is.
func (g *gate) done(p *pass, now time.Time, answered, timedOut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perSub[p.sub]--; g.perSub[p.sub] <= 0 {
		delete(g.perSub, p.sub)
	}
	if p.host != "" {
		if g.perHost[p.host]--; g.perHost[p.host] <= 0 {
			delete(g.perHost, p.host)
		}
	}
	c := g.circuits[p.sub]
	if p.probe && c != nil {
		c.probing = false
	}
	switch {
	case answered:
		delete(g.circuits, p.sub)
	case timedOut:
		if c == nil {
			c = &circuit{}
			g.circuits[p.sub] = c
		}
		c.timeouts++
		switch {
		case p.probe:
			// The probe timed out too: open again, for twice as long.
			c.cooldown = min(2*c.cooldown, g.maxCooldown)
			c.openUntil = now.Add(c.cooldown)
		case c.openUntil.IsZero() && c.timeouts >= g.threshold:
			c.cooldown = g.cooldown
			c.openUntil = now.Add(c.cooldown)
		}
	}
}

// state is the circuit of subscription id at now.
func (g *gate) state(id string, now time.Time) *Circuit {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.circuits[id]
	switch {
	case c == nil:
		return &Circuit{State: CircuitClosed}
	case c.openUntil.IsZero():
		return &Circuit{State: CircuitClosed, Timeouts: c.timeouts}
	case now.Before(c.openUntil):
		until := c.openUntil
		return &Circuit{State: CircuitOpen, Until: &until, Timeouts: c.timeouts}
	}
	return &Circuit{State: CircuitHalfOpen, Timeouts: c.timeouts}
}
