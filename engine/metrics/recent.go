package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/sdk"
)

// RecentMinutes is how far back Recent looks: the console's overview charts the last hour.
const RecentMinutes = 60

// Minute is what this node did in one minute.
type Minute struct {
	Start time.Time `json:"start"`
	// Attempts are delivery attempts recorded; FailedAttempts those whose outcome was not success.
	Attempts       int64 `json:"attempts"`
	FailedAttempts int64 `json:"failed_attempts"`
	// Succeeded, Failed and Dead are deliveries that reached that end.
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	Dead      int64 `json:"dead"`
	// Published are events in committed groups.
	Published int64 `json:"published"`
	// Due and InFlight are the queue (Recent.Queue) as last read in that minute: by QueueJob at
	// every minute, and by Recent itself. nil: not read in that minute (the node was not running),
	// which a chart shows as a gap rather than as an empty queue.
	Due      *int64 `json:"due"`
	InFlight *int64 `json:"in_flight"`
}

// Recent is the node's figures of the last hour, per minute, and its queue now.
type Recent struct {
	At time.Time `json:"at"`
	// Queue is read from the store: on a database nodes share, every node's deliveries.
	Queue struct {
		Due       int64 `json:"due"`
		Scheduled int64 `json:"scheduled"`
		InFlight  int64 `json:"in_flight"`
	} `json:"queue"`
	// Minutes are this node's own, oldest first, the current minute last; a node that started
	// less than an hour ago shows zeros before.
	Minutes []Minute `json:"minutes"`
}

// minutes is a ring of per-minute counts, by minute since the epoch: the same figures as the
// Prometheus counters, kept for an hour so that the console can chart them without a Prometheus.
type minutes struct {
	mu   sync.Mutex
	ring [RecentMinutes]struct {
		minute int64
		counts Minute
	}
}

func (r *minutes) add(now time.Time, f func(*Minute)) {
	m := now.Unix() / 60
	r.mu.Lock()
	defer r.mu.Unlock()
	slot := &r.ring[m%RecentMinutes]
	if slot.minute != m {
		slot.minute, slot.counts = m, Minute{}
	}
	f(&slot.counts)
}

func (r *minutes) last(now time.Time) []Minute {
	end := now.Unix() / 60
	out := make([]Minute, 0, RecentMinutes)
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := end - RecentMinutes + 1; m <= end; m++ {
		var c Minute
		if slot := r.ring[m%RecentMinutes]; slot.minute == m {
			c = slot.counts
		}
		c.Start = time.Unix(m*60, 0).UTC()
		out = append(out, c)
	}
	return out
}

func (r *minutes) attempt(now time.Time, outcome string, next engine.DeliveryState) {
	r.add(now, func(c *Minute) {
		c.Attempts++
		if outcome != sdk.OutcomeSuccess {
			c.FailedAttempts++
		}
		switch next {
		case engine.DeliverySucceeded:
			c.Succeeded++
		case engine.DeliveryFailed:
			c.Failed++
		case engine.DeliveryDead:
			c.Dead++
		}
	})
}

func (r *minutes) queue(now time.Time, counts engine.DeliveryCounts) {
	r.add(now, func(c *Minute) {
		due, inFlight := counts.Due, counts.InFlight
		c.Due, c.InFlight = &due, &inFlight
	})
}

// QueueJob reads the queue once a minute into the minute's figures, so that the last hour shows
// how the backlog moved and not only where it is now. Every node runs it: each keeps its own hour.
func (m *Metrics) QueueJob() *engine.Job {
	return &engine.Job{Name: "sample-queue", Spec: "@every 1m", EveryNode: true, Run: func(ctx context.Context, now time.Time) error {
		counts, err := m.queue.CountDeliveries(ctx, now)
		if err != nil {
			return fmt.Errorf("count deliveries: %w", err)
		}
		m.recent.queue(now, counts)
		return nil
	}}
}

// Recent returns the last hour's figures and the queue now.
func (m *Metrics) Recent(ctx context.Context) (*Recent, error) {
	now := m.clock.Now()
	counts, err := m.queue.CountDeliveries(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	m.recent.queue(now, counts)
	r := &Recent{At: now.UTC(), Minutes: m.recent.last(now)}
	r.Queue.Due, r.Queue.Scheduled, r.Queue.InFlight = counts.Due, counts.Scheduled, counts.InFlight
	return r, nil
}
