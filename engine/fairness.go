package engine

import (
	"maps"
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
	// hostOf is the host of each subscription with deliveries in flight.
	hostOf map[string]string
	// saturated are the subscriptions and hosts that reached their cap and have not yet drained to
	// half of it. The claim skips them until then, so that it takes half a cap's worth at once
	// rather than one delivery for each that ends: a claim costs milliseconds whatever it takes,
	// and one claim per delivery kept a single busy subscription's backlog at a fifth of its pace.
	saturatedSub, saturatedHost map[string]bool
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
		perSub: map[string]int{}, perHost: map[string]int{}, circuits: map[string]*circuit{}, hostOf: map[string]string{},
		saturatedSub: map[string]bool{}, saturatedHost: map[string]bool{},
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
	if g.perSub[sub.ID]++; g.perSub[sub.ID] >= g.maxPerSub {
		g.saturatedSub[sub.ID] = true
	}
	if host != "" {
		if g.perHost[host]++; g.perHost[host] >= g.maxPerHost {
			g.saturatedHost[host] = true
		}
		g.hostOf[sub.ID] = host
	}
	return p, 0
}

// blocked lists the subscriptions that enter would turn away now, or soon: at their cap (until
// they drain to half of it), with an open circuit or a probe out, or with a delivery in flight to a
// host at its cap (likewise). The claim skips them, so their backlogs are not claimed only to be
// given back.
func (g *gate) blocked(now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for id := range g.saturatedSub {
		add(id)
	}
	for id, c := range g.circuits {
		if !c.openUntil.IsZero() && (now.Before(c.openUntil) || c.probing) {
			add(id)
		}
	}
	for id, host := range g.hostOf {
		if g.saturatedHost[host] {
			add(id)
		}
	}
	return out
}

// inFlight counts the deliveries of each subscription let through and not yet done.
func (g *gate) inFlight() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.perSub)
}

// done ends a pass. answered: the receiver sent a response; timedOut: it did not within the
// timeout. Anything else (a plugin error, a refused connection) leaves the circuit as it is. It
// says whether a cap was full until now, so that work the claim skipped may be claimed again.
// opened is the circuit when this pass opened it (a run of timeouts, or a failed probe).
func (g *gate) done(p *pass, now time.Time, answered, timedOut bool) (freed bool, opened *Circuit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	freed = p.probe
	if g.perSub[p.sub]--; g.saturatedSub[p.sub] && g.perSub[p.sub] <= g.maxPerSub/2 {
		delete(g.saturatedSub, p.sub)
		freed = true
	}
	if g.perSub[p.sub] <= 0 {
		delete(g.perSub, p.sub)
		delete(g.hostOf, p.sub)
	}
	if p.host != "" {
		if g.perHost[p.host]--; g.saturatedHost[p.host] && g.perHost[p.host] <= g.maxPerHost/2 {
			delete(g.saturatedHost, p.host)
			freed = true
		}
		if g.perHost[p.host] <= 0 {
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
			opened = &Circuit{State: CircuitOpen, Until: &c.openUntil, Timeouts: c.timeouts}
		case c.openUntil.IsZero() && c.timeouts >= g.threshold:
			c.cooldown = g.cooldown
			c.openUntil = now.Add(c.cooldown)
			opened = &Circuit{State: CircuitOpen, Until: &c.openUntil, Timeouts: c.timeouts}
		}
	}
	return freed, opened
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
