package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/engine/outbound"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// DispatcherConfig tunes delivery. The zero value is usable; WithDefaults fills it in.
type DispatcherConfig struct {
	// Concurrency is how many deliveries may be in flight at once. Sending is I/O-bound, so this
	// is far above the core count; plugin pools bound the CPU-bound part separately. Default 256.
	Concurrency int
	// BatchSize is the most deliveries claimed by one query. Default 128.
	BatchSize int
	// PollInterval is how often the dispatcher looks for due work when nothing wakes it. Default 1s.
	PollInterval time.Duration
	// DeliveryTimeout bounds one request, from connect to the last byte read. Default 15s.
	DeliveryTimeout time.Duration
	// FormatTimeouts override DeliveryTimeout, and a plugin's own delivery_timeout_ms, per format.
	FormatTimeouts map[string]time.Duration
	// MaxPluginTimeout caps the delivery_timeout_ms a sandboxed (uploaded) plugin's manifest may
	// ask for; FormatTimeouts, set by the operator, are not capped. Default 60s.
	MaxPluginTimeout time.Duration
	// Lease is how long a claimed delivery stays claimed; an expired lease makes it due again.
	// While an attempt runs, its lease is extended (by the recover-leases job), so no lease ends
	// under an attempt however long it takes. Default: twice the longest timeout, plus a minute.
	Lease time.Duration
	// MaxPerSubscription is the most deliveries of one subscription in flight at once, so a
	// receiver that hangs holds no more slots than this; up to three times as many more wait in
	// memory, leased, for a slot (see gate). Default 32.
	MaxPerSubscription int
	// MaxPerHost is the most deliveries in flight at once to one destination host (by name,
	// whatever the port), across subscriptions and accounts; as many more may wait in memory.
	// Default 128.
	MaxPerHost int
	// MaxQueuedBytes bounds the memory that deliveries waiting in the gate hold (their events'
	// data and a kilobyte each for the rest), in all; one destination host may hold a quarter of
	// it and one subscription an eighth. Past that a delivery over a cap goes back to the store, as
	// when the counts are full. Default 64 MiB.
	MaxQueuedBytes int64
	// CapDelay is how much later a delivery that finds no room in the gate (or is behind a
	// circuit's probe) is due again; it goes back to the store meanwhile, holding no slot, and is
	// not counted as an attempt.
	// Default 1s.
	CapDelay time.Duration
	// BreakerThreshold is how many attempts in a row must time out to open a subscription's
	// circuit. Default 5.
	BreakerThreshold int
	// BreakerCooldown is how long a circuit stays open the first time; each failed probe doubles
	// it, up to BreakerMaxCooldown. Defaults 30s and 10m.
	BreakerCooldown    time.Duration
	BreakerMaxCooldown time.Duration
	// MaxStoredBody is how much of each request and response body an attempt keeps. Default 16 KiB.
	MaxStoredBody int
	// ShutdownGrace is how long Stop lets deliveries in flight finish before cutting them off.
	// Default 10s.
	ShutdownGrace time.Duration
}

// WithDefaults returns c with unset fields at their defaults.
func (c DispatcherConfig) WithDefaults() DispatcherConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = 256
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 128
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = 15 * time.Second
	}
	if c.MaxPluginTimeout <= 0 {
		c.MaxPluginTimeout = time.Minute
	}
	if c.MaxPerSubscription <= 0 {
		c.MaxPerSubscription = 32
	}
	if c.MaxPerHost <= 0 {
		c.MaxPerHost = 128
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 64 << 20
	}
	if c.CapDelay <= 0 {
		c.CapDelay = time.Second
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = 5
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = 30 * time.Second
	}
	if c.BreakerMaxCooldown < c.BreakerCooldown {
		c.BreakerMaxCooldown = max(10*time.Minute, c.BreakerCooldown)
	}
	if c.Lease <= 0 {
		longest := max(c.DeliveryTimeout, c.MaxPluginTimeout)
		for _, t := range c.FormatTimeouts {
			longest = max(longest, t)
		}
		c.Lease = 2*max(longest, 30*time.Second) + time.Minute
	}
	if c.MaxStoredBody <= 0 {
		c.MaxStoredBody = 16 << 10
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	return c
}

// dispatcher claims due deliveries, shapes each with its subscription's plugin, sends it, and
// records the attempt. One claiming loop feeds a bounded set of delivery goroutines; one recording
// loop writes their outcomes in batches.
type dispatcher struct {
	cfg     DispatcherConfig
	store   Store
	plugins *Plugins
	client  *outbound.Client
	clock   Clock
	logger  *slog.Logger
	styles  *styleHooks
	pacer   *pacer
	gate    *gate
	metrics Metrics // nil counts nothing: see observe
	// report publishes an operational event (engine.operational); nil reports nothing.
	report func(typ, entityType, entityID string, data map[string]any)
	// owner is the node ID the leases it takes carry.
	owner string

	// running are the deliveries whose attempts are under way or that wait in the gate, whose
	// leases must not end.
	runningMu sync.Mutex
	running   map[string]struct{}

	lifecycle        sync.Mutex
	started, stopped bool

	wake    chan struct{}
	slots   chan struct{}
	results chan result

	claimCancel context.CancelFunc
	claimDone   chan struct{}
	workCtx     context.Context
	workCancel  context.CancelFunc
	inFlight    sync.WaitGroup
	recordDone  chan struct{}
	workers     *workers[job]
	// shapeTurn is how long a worker shapes a batch in turn: maxShapeTurn, but in tests.
	shapeTurn time.Duration
}

// job is work for a delivery worker: a delivery let through the gate as p, shaped already when s
// is set; or, with w nil, a batch of them for one worker to shape in turn (see shapeInTurn).
type job struct {
	w     *Work
	p     *pass
	s     *shaped
	batch []job
}

// result is one delivery's end: an outcome to record, or a lease to give back untouched (due at
// releaseAt, or at once when zero) because the dispatcher stopped before the attempt finished or the
// delivery must wait for its subscription's rate, a cap or its circuit.
type result struct {
	outcome   *Outcome
	release   string
	releaseAt time.Time
	// answered: the receiver sent a response; timedOut: it did not in time. For the circuit.
	answered, timedOut bool
	// ordered: the delivery waits in an ordered queue, whose next one its end makes due.
	ordered bool
}

func newDispatcher(cfg DispatcherConfig, store Store, plugins *Plugins, client *outbound.Client, clock Clock, logger *slog.Logger, styles *styleHooks) *dispatcher {
	d := &dispatcher{
		cfg: cfg, store: store, plugins: plugins, client: client, clock: clock, logger: logger, styles: styles,
		pacer:   newPacer(),
		gate:    newGate(cfg),
		running: map[string]struct{}{},
		wake:    make(chan struct{}, 1),
		slots:   make(chan struct{}, cfg.Concurrency),
		results: make(chan result, cfg.Concurrency),

		shapeTurn: maxShapeTurn,
	}
	d.workers = newWorkers(workerIdle, d.work)
	return d
}

// reserve takes room in the gate and a free delivery slot, without waiting, for w, which the
// ingester is about to hand over.
func (d *dispatcher) reserve(w *Work) (ok, toldWhenFree bool) {
	if ok, full := d.gate.reserve(w); !ok {
		return false, full
	}
	select {
	case d.slots <- struct{}{}:
		return true, false
	default:
		d.gate.unreserve(w)
		return false, false
	}
}

func (d *dispatcher) lease() time.Duration { return d.cfg.Lease }

// unreserve gives back what reserve took for works.
func (d *dispatcher) unreserve(works []*Work) {
	for _, w := range works {
		d.gate.unreserve(w)
		<-d.slots
	}
}

// dispatch delivers work that is already leased, in the slots reserved for it.
func (d *dispatcher) dispatch(works []*Work) {
	d.startAll(works, true)
}

// startAll hands claimed work, each in the slot taken for it, to the gate: each goes at once, waits
// in the gate (freeing its slot) or goes back to the store. It runs before the next claim, which
// takes no more of a subscription than the gate has room for: work claimed but not yet counted
// would be taken twice over. reserved: the ingester reserved room in the gate for it.
func (d *dispatcher) startAll(works []*Work, reserved bool) {
	let := make([]job, 0, len(works))
	for _, w := range works {
		// Tracked before the gate sees it: once queued, another goroutine may take it at any moment.
		d.track(w.Delivery.ID)
		a := d.gate.admit(w, d.clock.Now(), d.cfg.CapDelay, reserved)
		switch {
		case a.pass != nil:
			d.inFlight.Add(1)
			let = append(let, job{w: w, p: a.pass})
			continue
		case !a.queued:
			d.untrack(w.Delivery.ID)
			d.results <- result{release: w.Delivery.ID, releaseAt: d.clock.Now().Add(a.wait)}
		}
		<-d.slots
	}
	d.runByPlugin(let)
}

// runByPlugin gives the workers the jobs let through together: those of a trusted plugin that has
// two or more go to one worker as a batch (see shapeInTurn), the others one to a worker. A
// sandboxed plugin is an uploaded one, whose calls may take up to its timeout: one event shaped
// slowly on purpose would hold up the rest of its batch, which may be other tenants' deliveries.
func (d *dispatcher) runByPlugin(jobs []job) {
	var batches map[string][]job
	for _, j := range jobs {
		f := j.w.Subscription.Format
		if p, ok := d.plugins.Get(f); len(jobs) == 1 || !ok || sandboxed(p) {
			d.workers.run(j)
			continue
		}
		if batches == nil {
			batches = map[string][]job{}
		}
		batches[f] = append(batches[f], j)
	}
	for _, batch := range batches {
		if len(batch) == 1 {
			d.workers.run(batch[0])
		} else {
			d.workers.run(job{batch: batch})
		}
	}
}

// work runs one job on a worker.
func (d *dispatcher) work(j job) {
	if j.batch != nil {
		d.shapeInTurn(j.batch)
		return
	}
	d.deliver(j)
}

// maxShapeTurn bounds how long a worker shapes a batch in turn before it hands the rest out
// unshaped, one to a worker: a plugin slow for some input delays the rest of its batch by at most
// this, and its own shape.
const maxShapeTurn = 5 * time.Millisecond

// shapeInTurn shapes a batch of deliveries of one plugin one after another, handing each to
// another worker to send as soon as it is shaped, and delivers the last itself. A plugin's guest
// code and memory stay in the processor's caches between calls that follow each other: in the
// load generator's runs the guest cost twice as much interleaved with the server's other work as
// it costs warm (BenchmarkColdShape shows the same with other memory touched between calls).
func (d *dispatcher) shapeInTurn(batch []job) {
	began := time.Now()
	last := len(batch) - 1
	for i, j := range batch[:last] {
		if time.Since(began) > d.shapeTurn {
			for _, rest := range batch[i:last] {
				d.workers.run(rest)
			}
			break
		}
		j.s = d.shapeSafely(j.w)
		d.workers.run(j)
	}
	d.deliver(batch[last])
}

// giveBack ends the leases of reserved work that will not be delivered now, and frees what was
// reserved for it.
func (d *dispatcher) giveBack(works []*Work) {
	for _, w := range works {
		d.results <- result{release: w.Delivery.ID}
	}
	d.unreserve(works)
}

// track and untrack keep the list of deliveries this node holds (in flight or waiting in the
// gate), whose leases must not end.
func (d *dispatcher) track(id string) {
	d.runningMu.Lock()
	d.running[id] = struct{}{}
	d.runningMu.Unlock()
}

func (d *dispatcher) untrack(id string) {
	d.runningMu.Lock()
	delete(d.running, id)
	d.runningMu.Unlock()
}

// notify wakes the claiming loop: new work is due.
func (d *dispatcher) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start starts claiming and delivering.
func (d *dispatcher) Start(context.Context) error {
	d.lifecycle.Lock()
	defer d.lifecycle.Unlock()
	if d.started {
		return nil
	}
	d.started = true
	var claimCtx context.Context
	claimCtx, d.claimCancel = context.WithCancel(context.Background())
	d.workCtx, d.workCancel = context.WithCancel(context.Background())
	d.claimDone, d.recordDone = make(chan struct{}), make(chan struct{})
	go d.claimLoop(claimCtx)
	go d.recordLoop()
	return nil
}

// Stop stops claiming, gives deliveries in flight the grace period to finish, cuts off the rest
// (their leases are given back, so they are due again at once on the next start), and writes every
// outcome before returning.
func (d *dispatcher) Stop(ctx context.Context) error {
	d.lifecycle.Lock()
	defer d.lifecycle.Unlock()
	if !d.started || d.stopped {
		return nil
	}
	d.stopped = true
	d.claimCancel()
	<-d.claimDone
	// What waits in the gate goes back now, due at once: it would otherwise start one by one in
	// the slots of deliveries that end during the grace period.
	for _, w := range d.gate.close() {
		d.untrack(w.Delivery.ID)
		d.results <- result{release: w.Delivery.ID}
	}
	finished := make(chan struct{})
	go func() { d.inFlight.Wait(); close(finished) }()
	grace := time.NewTimer(d.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-finished:
	case <-grace.C:
		d.workCancel()
		<-finished
	case <-ctx.Done():
		d.workCancel()
		<-finished
	}
	d.workCancel()
	d.workers.stop()
	close(d.results)
	<-d.recordDone
	return nil
}

func (d *dispatcher) claimLoop(ctx context.Context) {
	defer close(d.claimDone)
	for ctx.Err() == nil {
		// Claim no more than there are free slots for, so claimed work never waits on a lease.
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < d.cfg.BatchSize {
			select {
			case d.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		now := d.clock.Now()
		skip := d.gate.blocked(now)
		works, err := d.store.ClaimDue(ctx, ClaimParams{Now: now, LeaseUntil: now.Add(d.cfg.Lease), Limit: n, Owner: d.owner,
			PerSubscription: d.gate.subRoom(), Skip: skip, InFlight: d.gate.load()})
		for range n - len(works) {
			<-d.slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.logger.Error("claim deliveries", "err", err)
			d.sleep(ctx, d.cfg.PollInterval)
			continue
		}
		d.startAll(works, false)
		if len(works) == n {
			continue // there may be more due right now
		}
		if len(works) == 0 && len(skip) > 0 {
			// What is due may all be skipped work: wait for a pass to end (it wakes this loop)
			// or for the poll, not for the next due time, which may be that skipped work's.
			d.sleep(ctx, d.cfg.PollInterval)
			continue
		}
		d.sleep(ctx, d.untilNextDue(ctx, len(works) == 0))
	}
}

// untilNextDue is how long to wait for the next due delivery, at most the poll interval.
func (d *dispatcher) untilNextDue(ctx context.Context, claimedNothing bool) time.Duration {
	wait := d.cfg.PollInterval
	next, ok, err := d.store.NextDue(ctx)
	if err != nil || !ok {
		return wait
	}
	if until := next.Sub(d.clock.Now()); until < wait {
		wait = until
	}
	// A delivery reported due that the claim did not return (it is being written right now)
	// must not turn this loop into a busy one.
	if claimedNothing && wait < 10*time.Millisecond {
		wait = 10 * time.Millisecond
	}
	return wait
}

func (d *dispatcher) sleep(ctx context.Context, wait time.Duration) {
	if wait <= 0 {
		return
	}
	t := d.clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-d.wake:
	case <-t.C():
	case <-ctx.Done():
	}
}

// deliver runs a delivery let through the gate, then, in the same slot, each queued delivery the
// gate lets through as one ends.
func (d *dispatcher) deliver(j job) {
	defer d.inFlight.Done()
	defer func() { <-d.slots }()
	w, p, s := j.w, j.p, j.s
	for w != nil {
		w, p = d.deliverOne(w, p, s)
		s = nil
	}
}

// deliverOne runs one delivery, shaped already when s is set, to its end, hands the result to the
// recorder and ends its pass; it returns the queued delivery the gate let through in its place, if
// any.
func (d *dispatcher) deliverOne(w *Work, p *pass, s *shaped) (*Work, *pass) {
	defer d.untrack(w.Delivery.ID)
	if s == nil {
		s = d.shapeSafely(w)
	}
	var res result
	func() {
		defer func() {
			if v := recover(); v != nil {
				res = d.panicked(w, v)
			}
		}()
		res = d.send(d.workCtx, w, s)
	}()
	d.observe(w, res, s.started)
	if o := res.outcome; o != nil {
		if o.State == DeliveryDead {
			d.reportOperational(w, EventDeliveryDead, map[string]any{"delivery_id": w.Delivery.ID, "subscription_id": w.Subscription.ID,
				"account_id": w.Subscription.AccountID, "event_id": w.Delivery.EventID, "attempts": w.Delivery.Attempts + 1,
				"last_status": o.Attempt.ResponseStatus, "last_error": o.Attempt.Error})
		}
		if o.Disable != "" {
			d.reportOperational(w, EventSubscriptionDisabled, map[string]any{"subscription_id": w.Subscription.ID,
				"account_id": w.Subscription.AccountID, "reason": o.Disable})
		}
	}
	res.ordered = w.Delivery.OrderingKey != ""
	d.results <- res

	end := d.gate.done(p, d.clock.Now(), res.answered, res.timedOut)
	if end.opened != nil {
		d.reportOperational(w, EventSubscriptionBackoff, map[string]any{"subscription_id": w.Subscription.ID,
			"account_id": w.Subscription.AccountID, "until": end.opened.Until, "timeouts": end.opened.Timeouts})
		for _, queued := range end.dropped {
			d.untrack(queued.Delivery.ID)
			d.results <- result{release: queued.Delivery.ID, releaseAt: *end.opened.Until}
		}
	}
	if end.freed {
		d.notify()
	}
	return end.next, end.nextPass
}

// reportOperational publishes one of the engine's own events about a delivery's subscription. The
// system account's own deliveries report nothing: a report about a report that died could go on
// for ever.
func (d *dispatcher) reportOperational(w *Work, typ string, data map[string]any) {
	if d.report == nil || w.Subscription.AccountID == SystemAccount {
		return
	}
	entity, id := "subscription", w.Subscription.ID
	if typ == EventDeliveryDead {
		entity, id = "delivery", w.Delivery.ID
	}
	d.report(typ, entity, id, data)
}

// panicked is the result of an attempt that panicked: logged, and tried again later.
func (d *dispatcher) panicked(w *Work, v any) result {
	d.logger.Error("delivery panicked", "delivery", w.Delivery.ID, "panic", v, "stack", string(debug.Stack()))
	return result{outcome: d.retry(w, &Attempt{DeliveryID: w.Delivery.ID, StartedAt: d.clock.Now(),
		Error: fmt.Sprintf("internal error: %v", v)}, 0)}
}

// shaped is an attempt as far as its request: the request its plugin shaped, or the result the
// attempt came to before there was one to send (done). send takes it from there.
type shaped struct {
	started time.Time // on the process's clock, for the attempt's metrics
	done    *result

	start   time.Time // on the dispatcher's clock
	a       *Attempt
	plugin  Plugin
	release func() // ends the plugin's use: after the response is judged
	urls    DeliveryURLs
	in      *sdk.Input
	keys    *signing.Keyring
	req     *sdk.Request
}

// shapeSafely is shapeAttempt, with a panic turned into the attempt's result.
func (d *dispatcher) shapeSafely(w *Work) (s *shaped) {
	s = &shaped{started: time.Now()}
	defer func() {
		if v := recover(); v != nil {
			res := d.panicked(w, v)
			s.done = &res
		}
	}()
	s.done = d.shapeAttempt(d.workCtx, w, s)
	return s
}

// shapeAttempt takes one delivery's attempt as far as its request, into s, or returns the result
// it came to before there was one.
func (d *dispatcher) shapeAttempt(ctx context.Context, w *Work, s *shaped) *result {
	start := d.clock.Now()
	a := &Attempt{DeliveryID: w.Delivery.ID, StartedAt: start}
	s.start, s.a = start, a
	sub := w.Subscription
	if sub.State == SubscriptionDisabled {
		// Deliveries queued before the subscription was disabled are not sent; re-enabling it and
		// retrying them by hand sends them.
		a.Outcome, a.Error = sdk.OutcomeGiveUp, "the subscription is disabled: "+sub.DisabledReason
		return &result{outcome: &Outcome{Attempt: a, State: DeliveryFailed, SubscriptionID: sub.ID}}
	}
	// Before the pacer, so that a delivery no one may receive spends none of the receiver's rate.
	switch reason, err := d.styles.skip(ctx, w); {
	case err != nil:
		a.Error = "decide whether to skip the delivery: " + err.Error()
		return &result{outcome: d.retry(w, a, 0)}
	case reason != "":
		a.Outcome, a.Error = OutcomeSkip, reason
		return &result{outcome: &Outcome{Attempt: a, State: DeliverySkipped, SubscriptionID: sub.ID}}
	}
	if wait := d.pacer.wait(sub, w.Delivery.ID, start); wait > 0 {
		return &result{release: w.Delivery.ID, releaseAt: start.Add(wait)}
	}
	plugin, release, ok := d.plugins.Acquire(sub.Format)
	s.plugin, s.release = plugin, release
	if !ok {
		a.Error = fmt.Sprintf("format %q: no plugin of that name is loaded", sub.Format)
		return &result{outcome: d.retry(w, a, 0)}
	}
	a.PluginVersion = plugin.Version()

	urls, state, err := d.styles.prepare(ctx, w)
	if err != nil {
		a.Error = "prepare delivery: " + err.Error()
		return &result{outcome: d.retry(w, a, 0)}
	}
	in := PluginInput(w.Event, sub, w.App, w.Account, w.Delivery, urls)
	in.State = state
	keys := Keys(sub, w.App, start)
	s.urls, s.in, s.keys = urls, in, keys

	req, err := d.shape(ctx, plugin, w, in, keys)
	if err != nil {
		if wait, busy := pluginBusy(err); busy {
			// Nothing ran: the plugin had no instance free in time, or is quarantined. The delivery
			// waits its turn in the store, not in a delivery slot, and no attempt is counted.
			// Rounded up to a tenth of a second, so the releases of a burst share one write.
			at := d.clock.Now().Add(wait + 100*time.Millisecond).Truncate(100 * time.Millisecond)
			return &result{release: w.Delivery.ID, releaseAt: at}
		}
		if pluginClosed(err) || ctx.Err() != nil {
			// The plugin was replaced, or the dispatcher is stopping: nothing was sent.
			return &result{release: w.Delivery.ID}
		}
		a.Error = "plugin: " + err.Error()
		a.DurationMS = d.clock.Now().Sub(start).Milliseconds()
		if isRetryable(err) {
			return &result{outcome: d.retry(w, a, 0)}
		}
		a.Outcome = sdk.OutcomeGiveUp
		return &result{outcome: &Outcome{Attempt: a, State: DeliveryFailed, SubscriptionID: sub.ID}}
	}
	s.req = req
	return nil
}

// send sends a shaped attempt's request and judges the response; an attempt that ended before it
// had a request ends here with that result.
func (d *dispatcher) send(ctx context.Context, w *Work, s *shaped) result {
	if s.release != nil {
		defer s.release()
	}
	if s.done != nil {
		return *s.done
	}
	sub, start, a, plugin, urls, in, keys, req := w.Subscription, s.start, s.a, s.plugin, s.urls, s.in, s.keys, s.req
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	a.RequestMethod = method
	a.RequestURL = RequestURL(sub, req)
	send, record, err := FillSecrets(sub, a.RequestURL, req, keys)
	if err != nil {
		// The plugin asked for something it may never have: trying again changes nothing.
		a.Error = "plugin: " + err.Error()
		a.Outcome = sdk.OutcomeGiveUp
		a.DurationMS = d.clock.Now().Sub(start).Milliseconds()
		return result{outcome: &Outcome{Attempt: a, State: DeliveryFailed, SubscriptionID: sub.ID}}
	}
	a.RequestHeaders = headerLines(withSequence(record.Headers, w.Delivery))
	recorded := record.Body
	if len(urls.Tokens) > 0 {
		for i := range a.RequestHeaders {
			a.RequestHeaders[i].Value = redactTokens(a.RequestHeaders[i].Value, urls.Tokens)
		}
		// Replaced before the body is cut: a token cut in two would not be found.
		recorded = []byte(redactTokens(string(record.Body), urls.Tokens))
	}
	a.RequestBody = truncateBody(recorded, d.cfg.MaxStoredBody)
	sendHeaders := withSequence(send.Headers, w.Delivery)
	headers := make([]outbound.Header, len(sendHeaders))
	for i, h := range sendHeaders {
		headers[i] = outbound.Header{Name: h.Name, Value: h.Value}
	}
	resp, err := d.client.Do(ctx, &outbound.Request{
		Method: method, URL: a.RequestURL, Headers: headers, Body: send.Body, Timeout: d.timeoutFor(plugin),
		MaxResponseBytes: plugin.Manifest().MaxResponseBytes,
	})
	a.DurationMS = d.clock.Now().Sub(start).Milliseconds()
	if err != nil {
		if d.workCtx.Err() != nil {
			// Cut off by shutdown: the receiver may or may not have it; sending it again later
			// with the same delivery ID is what at-least-once delivery promises.
			return result{release: w.Delivery.ID}
		}
		a.Error = err.Error()
		return result{outcome: d.retry(w, a, 0), timedOut: errors.Is(err, context.DeadlineExceeded)}
	}
	a.ResponseStatus = resp.Status
	a.ResponseHeaders = make([]HeaderLine, len(resp.Headers))
	for i, h := range resp.Headers {
		a.ResponseHeaders[i] = HeaderLine{Name: h.Name, Value: h.Value}
	}
	a.ResponseBody = truncateBody(resp.Body, d.cfg.MaxStoredBody)

	res := d.judged(ctx, w, plugin, in, keys, resp, a)
	res.answered = true
	return res
}

// judged records the response on the attempt and decides what follows from it.
func (d *dispatcher) judged(ctx context.Context, w *Work, plugin Plugin, in *sdk.Input, keys *signing.Keyring, resp *outbound.Response, a *Attempt) result {
	sub := w.Subscription
	verdict := d.judge(ctx, plugin, in, keys, resp, a)
	a.Outcome = verdict.Outcome
	if verdict.Message != "" && a.Error == "" {
		a.Error = verdict.Message
	}
	a.Kept = verdict.Keep
	switch verdict.Outcome {
	case sdk.OutcomeSuccess:
		if len(a.Kept) > 0 {
			if err := d.styles.kept(ctx, w, a); err != nil {
				d.logger.Error("apply kept data", "delivery", w.Delivery.ID, "err", err)
			}
		}
		return result{outcome: &Outcome{Attempt: a, State: DeliverySucceeded, SubscriptionID: sub.ID, Healthy: true}}
	case sdk.OutcomeGiveUp:
		return result{outcome: &Outcome{Attempt: a, State: DeliveryFailed, SubscriptionID: sub.ID}}
	case sdk.OutcomeDisable:
		reason := a.Error
		if reason == "" {
			reason = fmt.Sprintf("the receiver answered %d", resp.Status)
		}
		return result{outcome: &Outcome{Attempt: a, State: DeliveryFailed, SubscriptionID: sub.ID, Disable: reason}}
	}
	return result{outcome: d.retry(w, a, verdict.RetryAfter)}
}

// shape runs the plugin's shape, or on_subscribe for a handshake, within the delivery's own
// deadline: waiting for a free instance counts against it too.
func (d *dispatcher) shape(ctx context.Context, plugin Plugin, w *Work, in *sdk.Input, keys *signing.Keyring) (*sdk.Request, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeoutFor(plugin))
	defer cancel()
	if w.Delivery.Kind == DeliveryHandshake {
		return plugin.OnSubscribe(ctx, in, keys)
	}
	return plugin.Shape(ctx, in, keys)
}

// judge decides what a response means: the plugin's on_response if it has one, else the default
// rule. A failing on_response falls back to the default rule, noted on the attempt.
func (d *dispatcher) judge(ctx context.Context, plugin Plugin, in *sdk.Input, keys *signing.Keyring, resp *outbound.Response, a *Attempt) *sdk.Verdict {
	if plugin.Has(sdk.HookOnResponse) {
		in.Response = &sdk.Response{Status: resp.Status, Body: resp.Body}
		for _, h := range resp.Headers {
			in.Response.Headers = append(in.Response.Headers, sdk.Header{Name: h.Name, Value: h.Value})
		}
		v, err := plugin.OnResponse(ctx, in, keys)
		if err == nil {
			return v
		}
		a.Error = "on_response: " + err.Error()
	}
	return defaultVerdict(resp, d.clock.Now())
}

// defaultVerdict is the rule without an on_response hook: 2xx succeeds, 410 Gone disables the
// subscription, anything else is retried, no sooner than a Retry-After asks.
func defaultVerdict(resp *outbound.Response, now time.Time) *sdk.Verdict {
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		return &sdk.Verdict{Outcome: sdk.OutcomeSuccess}
	case resp.Status == http.StatusGone:
		return &sdk.Verdict{Outcome: sdk.OutcomeDisable, Message: "the receiver answered 410 Gone"}
	}
	return &sdk.Verdict{Outcome: sdk.OutcomeRetry, RetryAfter: outbound.RetryAfter(resp.Headers, now)}
}

// retry schedules the next attempt by the subscription's retry policy, or declares the delivery
// dead when no attempts are left.
func (d *dispatcher) retry(w *Work, a *Attempt, retryAfter time.Duration) *Outcome {
	if a.Outcome == "" {
		a.Outcome = sdk.OutcomeRetry
	}
	out := &Outcome{Attempt: a, SubscriptionID: w.Subscription.ID}
	delay, ok := w.Subscription.RetryPolicy.NextDelay(w.Delivery.Attempts+1, retryAfter)
	if !ok {
		out.State = DeliveryDead
		return out
	}
	out.State = DeliveryPending
	out.NextAttemptAt = d.clock.Now().Add(delay)
	return out
}

// timeoutFor is how long a receiver has to answer a delivery p shaped: the operator's setting for
// the format, else the plugin's own, capped for a sandboxed plugin (an upload must not hold a
// slot, or ask for a lease, longer than the operator allows), else the default.
func (d *dispatcher) timeoutFor(p Plugin) time.Duration {
	name := p.Manifest().Name
	if t, ok := d.cfg.FormatTimeouts[name]; ok {
		return t
	}
	if ms := p.Manifest().DeliveryTimeoutMS; ms > 0 {
		t := time.Duration(ms) * time.Millisecond
		if sandboxed(p) {
			t = min(t, d.cfg.MaxPluginTimeout)
		}
		return t
	}
	return d.cfg.DeliveryTimeout
}

// sandboxed tells whether p runs sandboxed (an upload); a plugin that does not say is taken to.
func sandboxed(p Plugin) bool {
	if s, ok := p.(interface{ Sandboxed() bool }); ok {
		return s.Sandboxed()
	}
	return true
}

// runningIDs returns the deliveries whose attempts are under way or that wait in the gate.
func (d *dispatcher) runningIDs() []string {
	d.runningMu.Lock()
	defer d.runningMu.Unlock()
	ids := make([]string, 0, len(d.running))
	for id := range d.running {
		ids = append(ids, id)
	}
	return ids
}

// circuit is subscription id's circuit breaker now.
func (d *dispatcher) circuit(id string) *Circuit { return d.gate.state(id, d.clock.Now()) }

// recordLoop writes outcomes in batches: what queued while the previous batch committed, and
// what arrives within recordLinger of the first. Without the wait, a writer that kept up took
// batches of 3 or 4 outcomes in the load generator's runs (16 x 20), and recording cost 0.96 s of
// a 5 s CPU profile; waiting 3 ms, batches of about 45 and 0.63 s; waiting 10 ms, a third as many
// batches as at 3 ms (about 190 for 40,000 events, against 520). A batch's fixed cost is its
// commit's, and no delivery waits for its record: its slot is free once its outcome is queued
// here. An ordered delivery's outcome is written without waiting: the next of its queue is
// claimed only once it is recorded.
func (d *dispatcher) recordLoop() {
	defer close(d.recordDone)
	const maxBatch = 512
	linger := time.NewTimer(recordLinger)
	linger.Stop()
	for first := range d.results {
		batch := []result{first}
		hurry := first.ordered
		linger.Reset(recordLinger)
	gather:
		for len(batch) < maxBatch {
			var (
				r  result
				ok bool
			)
			if hurry {
				select {
				case r, ok = <-d.results:
				default:
					break gather
				}
			} else {
				select {
				case r, ok = <-d.results:
				case <-linger.C:
					break gather
				}
			}
			if !ok {
				break gather
			}
			batch = append(batch, r)
			hurry = hurry || r.ordered
		}
		linger.Stop()
		d.record(batch)
	}
}

// recordLinger is how long the recorder waits for more outcomes to write with the first.
const recordLinger = 10 * time.Millisecond

// logAttempt logs a finished attempt at the level an operator needs: a success at debug, a failure
// that will be retried at warn, a delivery that will never be sent again at error. Attempt errors
// name the receiver's scheme and host only (outbound.Client.Do), never a path, query or secret.
func (d *dispatcher) logAttempt(o *Outcome) {
	a := o.Attempt
	level, msg := slog.LevelDebug, "delivery attempt succeeded"
	switch o.State {
	case DeliveryPending:
		level, msg = slog.LevelWarn, "delivery attempt failed; it will be retried"
	case DeliveryDead:
		level, msg = slog.LevelError, "delivery dead: no attempts left"
	case DeliveryFailed:
		level, msg = slog.LevelError, "delivery failed for good"
	case DeliverySkipped:
		// A rule the operator's platform set (a user's permissions) did its work: nothing failed.
		level, msg = slog.LevelInfo, "delivery skipped: not sent"
	}
	d.logger.Log(context.Background(), level, msg, "delivery", a.DeliveryID, "subscription", o.SubscriptionID,
		"attempt", a.Number, "status", a.ResponseStatus, "outcome", a.Outcome, "next", o.State,
		"next_attempt_at", o.NextAttemptAt, "took_ms", a.DurationMS, "error", a.Error, "disabled", o.Disable)
}

func (d *dispatcher) record(batch []result) {
	var outcomes []*Outcome
	released := map[time.Time][]string{}
	dueSoon := false
	now := d.clock.Now()
	for _, r := range batch {
		switch {
		case r.outcome != nil:
			d.logAttempt(r.outcome)
			outcomes = append(outcomes, r.outcome)
			if r.outcome.State == DeliveryPending && !r.outcome.NextAttemptAt.After(now.Add(d.cfg.PollInterval)) {
				dueSoon = true
			}
			// The next of its queue may be due already: claim it once this is recorded, not at
			// the next poll (one hot entity went at 75 deliveries/s without this).
			if r.ordered && r.outcome.State != DeliveryPending {
				dueSoon = true
			}
		case r.releaseAt.IsZero():
			released[now] = append(released[now], r.release)
			dueSoon = true
		default:
			released[r.releaseAt] = append(released[r.releaseAt], r.release)
		}
	}
	// These writes outlive any caller: an attempt that happened must be recorded.
	ctx := context.Background()
	if len(outcomes) > 0 {
		if err := d.store.Complete(ctx, outcomes); err != nil {
			// The deliveries stay in flight until their leases end, and are then sent again.
			d.logger.Error("record attempts", "attempts", len(outcomes), "err", err)
		}
	}
	for at, ids := range released {
		if err := d.store.ReleaseLeases(ctx, ids, at); err != nil {
			d.logger.Error("release leases", "deliveries", len(ids), "err", err)
		}
	}
	if dueSoon {
		d.notify()
	}
}

// isRetryable tells whether a plugin failure may pass: a trap (a timeout, out of memory) may,
// and so may an error the plugin marked retryable; other plugin errors will recur.
func isRetryable(err error) bool {
	var refused interface{ Retryable() bool }
	if errors.As(err, &refused) {
		return refused.Retryable()
	}
	return true
}

// pluginBusy tells whether a call ran nothing because its plugin had no instance free in time or
// is quarantined (see Plugin), and how much later to try again.
func pluginBusy(err error) (time.Duration, bool) {
	var busy interface{ PluginBusy() time.Duration }
	if errors.As(err, &busy) {
		return busy.PluginBusy(), true
	}
	return 0, false
}

// pluginClosed tells whether a call failed because its plugin had been closed (see Plugin).
func pluginClosed(err error) bool {
	var closed interface{ PluginClosed() bool }
	return errors.As(err, &closed) && closed.PluginClosed()
}

func headerLines(hs []sdk.Header) []HeaderLine {
	out := make([]HeaderLine, len(hs))
	for i, h := range hs {
		out[i] = HeaderLine{Name: h.Name, Value: h.Value}
	}
	return out
}

// truncateBody keeps at most max bytes of a body for the record, cut on a UTF-8 boundary.
func truncateBody(b []byte, max int) string {
	if len(b) <= max {
		return string(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…[truncated]"
}
