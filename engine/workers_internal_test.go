package engine

import (
	"sync"
	"testing"
	"time"
)

// TestWorkersAreReused checks jobs run one after another share one goroutine, jobs run at once get
// one each, an idle worker ends, and stop waits for the running jobs.
func TestWorkersAreReused(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var done []int
	release := make(chan struct{})
	var blocked sync.WaitGroup
	blocked.Add(2)
	ws := newWorkers(time.Hour, func(j int) {
		if j < 0 {
			blocked.Done()
			<-release
		}
		mu.Lock()
		done = append(done, j)
		mu.Unlock()
	})
	finished := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := len(done)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d jobs done, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 5 {
		ws.run(i)
		finished(i + 1)
		// The worker waits again once it has reached its select after the job; a run before
		// that starts a second worker, which is allowed: hence at most 2 below, not 1.
		time.Sleep(20 * time.Millisecond)
	}
	if n := ws.started.Load(); n > 2 {
		t.Errorf("5 jobs one after another started %d workers; want them to share one", n)
	}
	// Two jobs that wait for each other's start: they only both start on two workers.
	ws.run(-1)
	ws.run(-2)
	blocked.Wait()
	stopped := make(chan struct{})
	go func() { ws.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned while jobs ran")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-stopped
	if len(done) != 7 {
		t.Errorf("%d jobs done, want 7", len(done))
	}

	short := newWorkers(time.Millisecond, func(int) {})
	short.run(1)
	deadline := time.Now().Add(10 * time.Second)
	for short.started.Load() == 1 && time.Now().Before(deadline) {
		// An idle worker ends: the next job starts another.
		time.Sleep(5 * time.Millisecond)
		short.run(2)
	}
	if short.started.Load() < 2 {
		t.Error("a worker idle past its time did not end")
	}
	short.stop()
}
