package engine

import (
	"net/url"
	"slices"
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
//
// A delivery over a cap waits in the gate, in its subscription's queue, and goes as soon as one of
// the deliveries ahead of it ends: in the goroutine and slot that delivery frees, with no write to
// the store and no claim. Sending it back to the store to be claimed again instead cost a lease
// release, a claim and the reads that load claimed work for every delivery over the cap, and kept
// one busy subscription at half the pace of the same node without caps. A queue holds no delivery
// slot; a subscription has at most subRoom in the gate, in flight and queued together, and a
// host hostDepth caps' worth, and the claim takes no more of a subscription than that leaves
// room for (see blocked and load).
//
// Counts alone would let large events fill the node's memory: 256 waiting deliveries of 1 MiB
// events are 256 MiB for one subscription. So what waits (queued, or reserved by the ingester) is
// bounded in bytes too: maxBytes in all, a host a quarter of it and a subscription an eighth, so
// that no tenant's large events take the room every other tenant's queues need.
type gate struct {
	maxPerSub, maxPerHost int
	threshold             int
	cooldown, maxCooldown time.Duration

	mu sync.Mutex
	// perSub and perHost count the deliveries in flight.
	perSub, perHost map[string]int
	// queue holds each subscription's deliveries waiting for a slot, oldest first; turns lists,
	// by host, the subscriptions with a queue, in the order they take turns when a slot frees.
	queue map[string][]*Work
	turns map[string][]string
	// queuedHost counts the deliveries waiting for each host.
	queuedHost map[string]int
	// reservedSub and reservedHost count the deliveries the ingester handed over and the gate
	// has not admitted yet, so that it hands over no more than fits.
	reservedSub, reservedHost map[string]int
	// waitingSub, waitingHost and waiting are the bytes of the deliveries queued and reserved (see
	// workBytes), by subscription, by host and in all; maxBytes bounds them.
	waitingSub, waitingHost map[string]int64
	waiting, maxBytes       int64
	circuits                map[string]*circuit
	// hostOf is the host of each subscription with deliveries in flight, queued or reserved.
	hostOf map[string]string
	// saturated are the subscriptions and hosts with more than half their room in the gate, and
	// saturatedBytes says whether more than half of maxBytes waits (see mark).
	saturatedSub, saturatedHost map[string]bool
	saturatedBytes              bool
	// closed: the dispatcher is stopping; nothing more waits in the gate.
	closed bool
}

// subDepth and hostDepth are how many caps' worth of deliveries a subscription and a host may have
// in the gate, in flight and waiting. The deeper a subscription's queue, the more a claim takes of
// it at once, and the more of a burst the ingester hands over without a claim: in the load
// generator's runs on one subscription, 4 cost a fifth less CPU per event than 2, and 8 about a
// tenth less than 4 with a sixth more delivered per second. A host's queue is what any number of
// subscriptions to one receiver's machine hold in memory together, and no subscription takes more
// than half of it (subRoom): one subscription to a hung receiver filled its host's queue at depths
// 8 and 2, and the host's other subscriptions waited seconds to be claimed.
const subDepth, hostDepth = 8, 4

// subRoom and hostRoom are how many deliveries one subscription and one host may have in the gate,
// in flight and waiting.
func (g *gate) subRoom() int  { return min(subDepth*g.maxPerSub, g.hostRoom()/2) }
func (g *gate) hostRoom() int { return hostDepth * g.maxPerHost }

// subBytes and hostBytes are the bytes one subscription and one host may have waiting in the gate.
func (g *gate) subBytes() int64  { return g.maxBytes / 8 }
func (g *gate) hostBytes() int64 { return g.maxBytes / 4 }

// workOverhead is what a waiting delivery holds besides its event's data: its Work, Delivery and
// Event structs and their strings, rounded up.
const workOverhead = 1 << 10

// workBytes is what w holds in memory while it waits in the gate.
func workBytes(w *Work) int64 {
	if w.Event == nil {
		return workOverhead
	}
	return workOverhead + int64(len(w.Event.Data))
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
		perSub: map[string]int{}, perHost: map[string]int{},
		queue: map[string][]*Work{}, turns: map[string][]string{}, queuedHost: map[string]int{},
		reservedSub: map[string]int{}, reservedHost: map[string]int{},
		waitingSub: map[string]int64{}, waitingHost: map[string]int64{}, maxBytes: cfg.MaxQueuedBytes,
		circuits: map[string]*circuit{}, hostOf: map[string]string{},
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

// admission is what the gate decided for a delivery: go now (pass), wait in the gate (queued), or
// go back to the store, due again after wait.
type admission struct {
	pass   *pass
	queued bool
	wait   time.Duration
}

// admit decides for a claimed delivery: it goes if its subscription's circuit and caps let it,
// waits in its subscription's queue if only a cap is full and the gate has room (hasRoom), and
// otherwise goes back to the store: until the circuit's open period ends, or retry (a little later)
// when the gate is full or a probe is already out. reserved: the ingester reserved room for it (reserve).
func (g *gate) admit(w *Work, now time.Time, retry time.Duration, reserved bool) admission {
	sub := w.Subscription
	host := destinationHost(sub.URL)
	g.mu.Lock()
	defer g.mu.Unlock()
	size := workBytes(w)
	if reserved {
		g.unreserveLocked(sub.ID, host, size)
	}
	p := &pass{sub: sub.ID, host: host}
	if c := g.circuits[sub.ID]; c != nil && !c.openUntil.IsZero() {
		if now.Before(c.openUntil) {
			return admission{wait: c.openUntil.Sub(now)}
		}
		if c.probing {
			return admission{wait: retry}
		}
		p.probe = true
	}
	if g.perSub[sub.ID] < g.maxPerSub && (host == "" || g.perHost[host] < g.maxPerHost) {
		g.letThrough(p)
		return admission{pass: p}
	}
	if g.closed || p.probe || !g.hasRoom(sub.ID, host, size) {
		return admission{wait: retry}
	}
	if len(g.queue[sub.ID]) == 0 {
		g.turns[host] = append(g.turns[host], sub.ID)
	}
	g.queue[sub.ID] = append(g.queue[sub.ID], w)
	g.queuedHost[host]++
	g.addWaiting(sub.ID, host, size)
	g.hostOf[sub.ID] = host
	g.mark(sub.ID, host)
	return admission{queued: true}
}

// letThrough counts p's delivery in flight. It says what mark says.
func (g *gate) letThrough(p *pass) (freed bool) {
	if p.probe {
		g.circuits[p.sub].probing = true
	}
	g.perSub[p.sub]++
	if p.host != "" {
		g.perHost[p.host]++
	}
	g.hostOf[p.sub] = p.host
	return g.mark(p.sub, p.host)
}

// reserve makes room for w, a delivery the ingester is about to hand over, if its
// subscription's caps and queue have room for it and its circuit is closed; admit, or unreserve,
// ends the reservation. full says there was no room: the subscription, its host or the gate is
// saturated, and its drain will wake the claim (see mark).
func (g *gate) reserve(w *Work) (ok, full bool) {
	sub := w.Subscription
	host := destinationHost(sub.URL)
	size := workBytes(w)
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.circuits[sub.ID]; g.closed || (c != nil && !c.openUntil.IsZero()) {
		return false, false
	}
	if !g.hasRoom(sub.ID, host, size) {
		return false, true
	}
	g.reservedSub[sub.ID]++
	g.reservedHost[host]++
	g.addWaiting(sub.ID, host, size)
	g.hostOf[sub.ID] = host
	g.mark(sub.ID, host)
	return true, false
}

// unreserve ends the reservation of w, a delivery that will not be admitted.
func (g *gate) unreserve(w *Work) {
	host := destinationHost(w.Subscription.URL)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unreserveLocked(w.Subscription.ID, host, workBytes(w))
}

func (g *gate) unreserveLocked(sub, host string, size int64) {
	if g.reservedSub[sub]--; g.reservedSub[sub] <= 0 {
		delete(g.reservedSub, sub)
	}
	if g.reservedHost[host]--; g.reservedHost[host] <= 0 {
		delete(g.reservedHost, host)
	}
	g.removeWaiting(sub, host, size)
	g.mark(sub, host)
}

// hasRoom tells whether one more delivery of sub, to host, of size bytes, fits in the gate.
func (g *gate) hasRoom(sub, host string, size int64) bool {
	if g.subTotal(sub) >= g.subRoom() || g.waitingSub[sub]+size > g.subBytes() || g.waiting+size > g.maxBytes {
		return false
	}
	return host == "" || (g.hostTotal(host) < g.hostRoom() && g.waitingHost[host]+size <= g.hostBytes())
}

// addWaiting and removeWaiting count the bytes of a delivery that starts or stops waiting.
func (g *gate) addWaiting(sub, host string, size int64) {
	g.waitingSub[sub] += size
	g.waitingHost[host] += size
	g.waiting += size
}

func (g *gate) removeWaiting(sub, host string, size int64) {
	if g.waitingSub[sub] -= size; g.waitingSub[sub] <= 0 {
		delete(g.waitingSub, sub)
	}
	if g.waitingHost[host] -= size; g.waitingHost[host] <= 0 {
		delete(g.waitingHost, host)
	}
	g.waiting -= size
}

// subTotal and hostTotal count the deliveries in flight, queued and reserved.
func (g *gate) subTotal(sub string) int {
	return g.perSub[sub] + len(g.queue[sub]) + g.reservedSub[sub]
}

func (g *gate) hostTotal(host string) int {
	return g.perHost[host] + g.queuedHost[host] + g.reservedHost[host]
}

// mark updates whether sub and host are saturated, and forgets a subscription with nothing in the
// gate. It says whether one of them stopped being saturated: work the claim skipped may be claimed.
//
// Saturated is more than half the room in the gate (half subRoom for a subscription, half hostRoom
// for a host), so the claim takes a subscription's work only once it has drained to half, and
// then half its room at once, rather than a few for each delivery that ends: a claim costs
// milliseconds whatever it takes. At half rather than at the cap, the queue is refilled while half
// of it still waits, so the subscription's slots do not stand idle while the claim runs.
func (g *gate) mark(sub, host string) (freed bool) {
	if g.waiting > g.maxBytes/2 {
		g.saturatedBytes = true
	} else if g.saturatedBytes {
		g.saturatedBytes = false
		freed = true
	}
	if g.subTotal(sub) > g.subRoom()/2 || g.waitingSub[sub] > g.subBytes()/2 {
		g.saturatedSub[sub] = true
	} else if g.saturatedSub[sub] {
		delete(g.saturatedSub, sub)
		freed = true
	}
	if g.subTotal(sub) == 0 {
		delete(g.hostOf, sub)
	}
	if host == "" {
		return freed
	}
	if g.hostTotal(host) > g.hostRoom()/2 || g.waitingHost[host] > g.hostBytes()/2 {
		g.saturatedHost[host] = true
	} else if g.saturatedHost[host] {
		delete(g.saturatedHost, host)
		freed = true
	}
	return freed
}

// blocked lists the subscriptions that admit would not let through now, or soon: saturated (more
// than half their room in the gate), with an open circuit or a probe out, or sending to a
// saturated host; and, while more than half the gate's bytes wait, those at a cap, whose next
// delivery would have to wait too. The claim skips them, so their backlogs are not claimed only to
// be given back.
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
		atCap := g.perSub[id] >= g.maxPerSub || (host != "" && g.perHost[host] >= g.maxPerHost)
		if g.saturatedHost[host] || (g.saturatedBytes && atCap) {
			add(id)
		}
	}
	return out
}

// load counts, for each subscription, the deliveries in flight, queued and reserved: a claim
// takes no more of one than its cap and its queue leave room for.
func (g *gate) load() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.hostOf))
	for id := range g.hostOf {
		out[id] = g.subTotal(id)
	}
	return out
}

// close empties the queues and keeps them empty: the dispatcher is stopping. It returns what
// waited, to go back to the store.
func (g *gate) close() []*Work {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	var out []*Work
	for id, q := range g.queue {
		out = append(out, q...)
		g.dropQueueLocked(id)
	}
	return out
}

// dropQueueLocked empties sub's queue.
func (g *gate) dropQueueLocked(sub string) []*Work {
	q := g.queue[sub]
	if len(q) == 0 {
		return nil
	}
	host := g.hostOf[sub]
	delete(g.queue, sub)
	g.turns[host] = slices.DeleteFunc(g.turns[host], func(id string) bool { return id == sub })
	if len(g.turns[host]) == 0 {
		delete(g.turns, host)
	}
	if g.queuedHost[host] -= len(q); g.queuedHost[host] <= 0 {
		delete(g.queuedHost, host)
	}
	for _, w := range q {
		g.removeWaiting(sub, host, workBytes(w))
	}
	g.mark(sub, host)
	return q
}

// next takes the delivery to send in a slot p's end freed on p's host: the oldest of the first
// subscription, in turn, whose cap has room. It returns nil when none may go. freed: its bytes
// leaving the queue ended a saturation (see mark).
func (g *gate) next(host string) (_ *Work, _ *pass, freed bool) {
	if g.closed || (host != "" && g.perHost[host] >= g.maxPerHost) {
		return nil, nil, false
	}
	turns := g.turns[host]
	for i, id := range turns {
		if g.perSub[id] >= g.maxPerSub {
			continue
		}
		if c := g.circuits[id]; c != nil && !c.openUntil.IsZero() {
			continue // its queue was dropped when the circuit opened; a probe goes through admit
		}
		q := g.queue[id]
		w := q[0]
		q[0] = nil
		if q = q[1:]; len(q) == 0 {
			delete(g.queue, id)
			turns = slices.Delete(turns, i, i+1)
		} else {
			g.queue[id] = q
			// Its turn is taken: it goes to the back of the line.
			turns = append(slices.Delete(turns, i, i+1), id)
		}
		if len(turns) == 0 {
			delete(g.turns, host)
		} else {
			g.turns[host] = turns
		}
		if g.queuedHost[host]--; g.queuedHost[host] <= 0 {
			delete(g.queuedHost, host)
		}
		g.removeWaiting(id, host, workBytes(w))
		p := &pass{sub: id, host: host}
		return w, p, g.letThrough(p)
	}
	return nil, nil, false
}

// ending is what the end of a pass leads to.
type ending struct {
	// next is a queued delivery let through in the freed slot, as nextPass.
	next     *Work
	nextPass *pass
	// freed: a subscription or host stopped being saturated, so work the claim skipped may be
	// claimed again.
	freed bool
	// opened is the circuit when this pass opened it (a run of timeouts, or a failed probe), and
	// dropped the deliveries that were queued behind it, to go back to the store until it closes.
	opened  *Circuit
	dropped []*Work
}

// done ends a pass. answered: the receiver sent a response; timedOut: it did not within the
// timeout. Anything else (a plugin error, a refused connection) leaves the circuit as it is.
func (g *gate) done(p *pass, now time.Time, answered, timedOut bool) ending {
	g.mu.Lock()
	defer g.mu.Unlock()
	var e ending
	e.freed = p.probe
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
			e.opened = &Circuit{State: CircuitOpen, Until: &c.openUntil, Timeouts: c.timeouts}
		case c.openUntil.IsZero() && c.timeouts >= g.threshold:
			c.cooldown = g.cooldown
			c.openUntil = now.Add(c.cooldown)
			e.opened = &Circuit{State: CircuitOpen, Until: &c.openUntil, Timeouts: c.timeouts}
		}
		if e.opened != nil {
			e.dropped = g.dropQueueLocked(p.sub)
		}
	}
	if g.mark(p.sub, p.host) {
		e.freed = true
	}
	// Letting a queued delivery through moves it within the gate: no count changes, but the
	// bytes waiting do.
	var nextFreed bool
	e.next, e.nextPass, nextFreed = g.next(p.host)
	e.freed = e.freed || nextFreed
	return e
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
