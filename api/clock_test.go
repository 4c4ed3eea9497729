package api_test

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine/enginetest"
)

// advance moves a node's test clock by d once its scheduler and dispatcher are both asleep on it
// (they are the clock's only users, one timer each). Each reads the time and then sets a timer for
// the wait it worked out; moved in between, the timer would start from the moved time and wait for
// a move that never comes, where a real clock would merely fire a little late. So a test that moves
// the clock right after something happened waits for the node to be idle first, instead of sleeping
// for a while and hoping it is.
func advance(t *testing.T, clock *enginetest.Clock, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for clock.Waiters() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler and the dispatcher are not both waiting on the clock (%d timers)", clock.Waiters())
		}
		time.Sleep(time.Millisecond)
	}
	clock.Advance(d)
}
