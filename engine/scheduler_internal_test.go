package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is a minimal moving clock for this package's tests (package enginetest imports engine,
// so it cannot be used here).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }
func (t *fakeTimer) Stop() bool          { return true }

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

func (c *fakeClock) waiting() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.timers) }

func TestSchedulerRunsJobsWhenTheClockSaysSo(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 5, 0, time.UTC)}
	runs := make(chan string, 10)
	jobs := []*Job{
		{Name: "fast", Spec: "@every 30s", Run: func(_ context.Context, now time.Time) error { runs <- "fast " + now.Format("15:04:05"); return nil }},
		{Name: "hourly", Spec: "@hourly", Run: func(_ context.Context, now time.Time) error {
			runs <- "hourly " + now.Format("15:04:05")
			return errors.New("logged, not fatal")
		}},
		{Name: "panics", Spec: "@every 1m", Run: func(context.Context, time.Time) error { panic("recovered") }},
	}
	s, err := newScheduler(clock, slog.New(slog.NewTextHandler(io.Discard, nil)), jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	defer s.Stop(context.Background())
	step := func(d time.Duration) {
		for clock.waiting() == 0 {
			time.Sleep(time.Millisecond)
		}
		clock.advance(d)
	}
	step(29 * time.Second)
	select {
	case r := <-runs:
		t.Fatalf("%s ran before its time", r)
	case <-time.After(50 * time.Millisecond):
	}
	step(time.Second)
	if r := <-runs; r != "fast 12:00:35" {
		t.Fatalf("got %q", r)
	}
	// Past the hour: the hourly job runs, and the panicking one did not stop the loop.
	step(time.Hour)
	got := map[string]bool{<-runs: true, <-runs: true}
	if !got["hourly 13:00:35"] || !got["fast 13:00:35"] {
		t.Fatalf("runs %v", got)
	}
}

func TestSchedulerRefusesABadSpec(t *testing.T) {
	t.Parallel()
	_, err := newScheduler(&fakeClock{}, slog.Default(), []*Job{{Name: "x", Spec: "whenever"}}, nil)
	if err == nil {
		t.Fatal("a bad spec was accepted")
	}
}
