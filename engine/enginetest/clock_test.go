package enginetest

import (
	"testing"
	"time"
)

func TestClockFiresTimersItPasses(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	early, late, stopped := c.NewTimer(time.Second), c.NewTimer(time.Hour), c.NewTimer(time.Second)
	if !stopped.Stop() {
		t.Fatal("Stop of a waiting timer should report true")
	}
	c.Advance(2 * time.Second)
	select {
	case at := <-early.C():
		if !at.Equal(start.Add(2 * time.Second)) {
			t.Errorf("fired at %v", at)
		}
	default:
		t.Fatal("a passed timer did not fire")
	}
	select {
	case <-late.C():
		t.Fatal("a future timer fired")
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if c.Waiters() != 1 {
		t.Errorf("waiters %d, want 1", c.Waiters())
	}
	if got := c.Now(); !got.Equal(start.Add(2 * time.Second)) {
		t.Errorf("now %v", got)
	}
}
