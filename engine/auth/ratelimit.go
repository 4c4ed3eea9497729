package auth

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/engine"
)

// RateLimitError says a credential made requests faster than its limit, and when to try again.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many requests from this credential; retry after %s", e.RetryAfter.Round(time.Millisecond))
}

func (e *RateLimitError) Unwrap() error { return engine.ErrRateLimited }

// RetryAfterSeconds is the Retry-After header's value: whole seconds, rounded up.
func (e *RateLimitError) RetryAfterSeconds() int {
	return int(math.Ceil(e.RetryAfter.Seconds()))
}

// credentialLimiter holds one token bucket per credential (golang.org/x/time/rate: well kept, and
// exact about reservations, which is what Retry-After needs). Buckets idle longer than it takes to
// refill are dropped, so the map does not grow with every credential ever seen.
type credentialLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newCredentialLimiter(perSecond float64, burst int) *credentialLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(2*perSecond))
	}
	return &credentialLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow takes one request's token for key, or says how long until there is one. A nil limiter
// allows everything.
func (l *credentialLimiter) allow(key string, now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%1024 == 0 {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return &RateLimitError{RetryAfter: delay}
	}
	return nil
}

func (l *credentialLimiter) sweep(now time.Time) {
	refill := time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Minute
	for k, b := range l.buckets {
		if now.Sub(b.seen) > refill {
			delete(l.buckets, k)
		}
	}
}
