package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultSchedule is the wait before each retry after a first attempt made at once: about 5 s,
// 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, so a delivery is tried 8 times over about a day and a
// half before it is dead.
var DefaultSchedule = []Duration{
	Duration(5 * time.Second), Duration(5 * time.Minute), Duration(30 * time.Minute),
	Duration(2 * time.Hour), Duration(5 * time.Hour), Duration(10 * time.Hour), Duration(10 * time.Hour),
}

const (
	// jitter spreads retries by up to this fraction either way, so a receiver that comes back
	// after an outage is not hit by every delivery in the same second.
	jitter = 0.1
	// MaxRetryAfter bounds how long a receiver's Retry-After can hold a delivery back.
	MaxRetryAfter = 24 * time.Hour
	// maxScheduleEntries and maxScheduleDelay bound a subscription's own schedule.
	maxScheduleEntries = 50
	maxScheduleDelay   = 7 * 24 * time.Hour
)

// RetryPolicy is a subscription's own retry schedule, in place of DefaultSchedule.
type RetryPolicy struct {
	// Schedule is the wait before each retry; its length is the number of retries.
	Schedule []Duration `json:"schedule"`
}

// Validate reports a schedule the engine will not run.
func (p *RetryPolicy) Validate() error {
	if p == nil {
		return nil
	}
	if len(p.Schedule) > maxScheduleEntries {
		return fmt.Errorf("retry_policy.schedule has %d entries; at most %d", len(p.Schedule), maxScheduleEntries)
	}
	for i, d := range p.Schedule {
		if d < 0 || time.Duration(d) > maxScheduleDelay {
			return fmt.Errorf("retry_policy.schedule[%d] = %s is outside 0..%s", i, time.Duration(d), maxScheduleDelay)
		}
	}
	return nil
}

func (p *RetryPolicy) schedule() []Duration {
	if p == nil || p.Schedule == nil {
		return DefaultSchedule
	}
	return p.Schedule
}

// MaxAttempts is how many times a delivery is tried in all.
func (p *RetryPolicy) MaxAttempts() int { return len(p.schedule()) + 1 }

// NextDelay returns how long to wait after failed attempt number attempts (1-based), and false when
// no attempts are left. retryAfter, when positive, is the receiver's Retry-After, which replaces the
// schedule's wait (bounded by MaxRetryAfter); the schedule's waits get jitter.
func (p *RetryPolicy) NextDelay(attempts int, retryAfter time.Duration) (time.Duration, bool) {
	s := p.schedule()
	if attempts < 1 || attempts > len(s) {
		return 0, false
	}
	if retryAfter > 0 {
		return min(retryAfter, MaxRetryAfter), true
	}
	d := time.Duration(s[attempts-1])
	spread := time.Duration(float64(d) * jitter * (2*rand.Float64() - 1))
	return d + spread, true
}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("5m30s"), or
// reads a number of seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return errors.New(`a duration is a string such as "5m" or a number of seconds`)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}
