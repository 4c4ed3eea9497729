package runtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errNoInstance is acquire's refusal when no instance came free within the wait.
var errNoInstance = errors.New("no instance came free in time")

// pool bounds how many instances of one plugin exist and lends them out one call at a time. Idle
// instances are reused last-in first-out, so a light load keeps touching the same warm few and the
// rest age out.
type pool struct {
	newInstance func(context.Context) (*instance, error)
	maxCalls    int
	maxWait     time.Duration

	// waiting counts calls waiting for a slot, for Stats.
	waiting atomic.Int64

	// slots holds one token per instance that may exist; taking one is the right to a call.
	slots chan struct{}

	mu      sync.Mutex
	idle    []*instance
	live    int
	closed  bool
	drained chan struct{} // closed when the pool is closed and its last instance has gone
}

func newPool(size, maxCalls int, maxWait time.Duration, newInstance func(context.Context) (*instance, error)) *pool {
	return &pool{
		newInstance: newInstance,
		maxCalls:    maxCalls,
		maxWait:     maxWait,
		slots:       make(chan struct{}, size),
		drained:     make(chan struct{}),
	}
}

// acquire lends an instance, creating one when none is idle and the pool has room, and waits for
// one otherwise: at most maxWait, and not past ctx's deadline. Either bound gives errNoInstance; a
// cancelled ctx gives its error.
func (p *pool) acquire(ctx context.Context) (*instance, error) {
	if err := p.takeSlot(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return inst, nil
	}
	p.live++
	p.mu.Unlock()

	inst, err := p.newInstance(ctx)
	if err != nil {
		p.mu.Lock()
		p.live--
		p.checkDrained()
		p.mu.Unlock()
		<-p.slots
		return nil, err
	}
	return inst, nil
}

func (p *pool) takeSlot(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	t := time.NewTimer(p.maxWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errNoInstance
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errNoInstance
		}
		return ctx.Err()
	}
}

// release returns an instance after a call. A broken instance, one that has served its quota of
// calls, or one returning to a closed pool is closed instead of kept.
func (p *pool) release(inst *instance, broken bool) {
	inst.calls++
	inst.lastUsed = time.Now()
	p.mu.Lock()
	keep := !broken && !p.closed && inst.calls < p.maxCalls
	if keep {
		p.idle = append(p.idle, inst)
	} else {
		p.live--
		p.checkDrained()
	}
	p.mu.Unlock()
	if !keep {
		inst.close()
	}
	<-p.slots
}

// put adds an instance made outside acquire (the one Load validated with) to the idle set.
func (p *pool) put(inst *instance) {
	p.mu.Lock()
	p.live++
	inst.lastUsed = time.Now()
	p.idle = append(p.idle, inst)
	p.mu.Unlock()
}

// evictIdle closes idle instances last used before cutoff, keeping the keep most recently used.
func (p *pool) evictIdle(cutoff time.Time, keep int) {
	p.mu.Lock()
	var evicted []*instance
	// idle is ordered oldest first, since release appends.
	for len(p.idle) > keep && p.idle[0].lastUsed.Before(cutoff) {
		evicted = append(evicted, p.idle[0])
		p.idle[0] = nil
		p.idle = p.idle[1:]
		p.live--
	}
	p.mu.Unlock()
	for _, inst := range evicted {
		inst.close()
	}
}

// close stops lending, closes idle instances now and the busy ones as they come back.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.live -= len(idle)
	p.checkDrained()
	p.mu.Unlock()
	for _, inst := range idle {
		inst.close()
	}
}

// checkDrained closes drained once a closed pool has no instances left. Callers hold mu.
func (p *pool) checkDrained() {
	if p.closed && p.live == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

type poolStats struct {
	Live, Idle int
	// InUse calls hold an instance (or are making one), of Capacity; Waiting wait for one.
	InUse, Capacity, Waiting int
}

func (p *pool) stats() poolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return poolStats{Live: p.live, Idle: len(p.idle), InUse: len(p.slots), Capacity: cap(p.slots), Waiting: int(p.waiting.Load())}
}
