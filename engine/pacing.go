package engine

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer holds back deliveries to subscriptions that cap their rate (Subscription.MaxPerSecond).
// A delivery that must wait keeps its reservation in the subscription's bucket and goes back to
// the store due at exactly the moment its token comes; when it is claimed again it is let through
// without paying twice. A backlog is so spread out at the rate in one pass, without holding
// delivery slots while it waits, and nothing is dropped.
type pacer struct {
	mu      sync.Mutex
	buckets map[string]*paceBucket
	prepaid map[string]time.Time // delivery ID -> when its reserved token comes
}

type paceBucket struct {
	perSecond float64
	lim       *rate.Limiter
	seen      time.Time
}

func newPacer() *pacer {
	return &pacer{buckets: map[string]*paceBucket{}, prepaid: map[string]time.Time{}}
}

// wait returns how long delivery d of subscription s must wait before it is sent; zero means now.
func (p *pacer) wait(s *Subscription, deliveryID string, now time.Time) time.Duration {
	if s.MaxPerSecond <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if at, ok := p.prepaid[deliveryID]; ok {
		delete(p.prepaid, deliveryID)
		if !now.Before(at.Add(-time.Millisecond)) {
			return 0
		}
	}
	b := p.buckets[s.ID]
	if b == nil || b.perSecond != s.MaxPerSecond {
		// A burst of one second's worth: a subscriber that asks for 10/s may get 10 at once.
		burst := max(1, int(s.MaxPerSecond))
		b = &paceBucket{perSecond: s.MaxPerSecond, lim: rate.NewLimiter(rate.Limit(s.MaxPerSecond), burst)}
		p.buckets[s.ID] = b
	}
	b.seen = now
	delay := b.lim.ReserveN(now, 1).DelayFrom(now)
	if delay > 0 {
		p.prepaid[deliveryID] = now.Add(delay)
	}
	if len(p.buckets) > 1024 || len(p.prepaid) > 1<<20 {
		p.sweep(now)
	}
	return delay
}

// sweep forgets buckets idle for a minute and reservations long past, whose deliveries were
// deleted or taken by a restart.
func (p *pacer) sweep(now time.Time) {
	for id, b := range p.buckets {
		if now.Sub(b.seen) > time.Minute {
			delete(p.buckets, id)
		}
	}
	for id, at := range p.prepaid {
		if now.Sub(at) > time.Hour {
			delete(p.prepaid, id)
		}
	}
}
