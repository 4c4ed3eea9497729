package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long a delivery worker waits for its next delivery before it ends.
const workerIdle = 5 * time.Second

// workers runs jobs on goroutines that wait a while for the next job before they end.
//
// Deliveries run so: wazero runs a plugin's calls to the host on the calling goroutine's stack, so
// a goroutine per delivery grew a new stack in every one (newstack, newproc and goexit0 together
// were 2.8% of the server's CPU in the load generator's 64 x 1 run). It bounds nothing itself:
// the dispatcher's slots bound how many jobs run at once, and a worker that finds no job ends.
type workers[J any] struct {
	do   func(J)
	idle time.Duration
	// jobs is unbuffered: a send succeeds only to a worker waiting for a job.
	jobs    chan J
	stopped chan struct{}
	wg      sync.WaitGroup
	// started counts the goroutines started, for the tests.
	started atomic.Int64
}

func newWorkers[J any](idle time.Duration, do func(J)) *workers[J] {
	return &workers[J]{do: do, idle: idle, jobs: make(chan J), stopped: make(chan struct{})}
}

// run gives j to a waiting worker, or to a new one.
func (ws *workers[J]) run(j J) {
	select {
	case ws.jobs <- j:
	default:
		ws.wg.Add(1)
		ws.started.Add(1)
		go ws.work(j)
	}
}

func (ws *workers[J]) work(j J) {
	defer ws.wg.Done()
	idle := time.NewTimer(ws.idle)
	defer idle.Stop()
	for {
		ws.do(j)
		idle.Reset(ws.idle)
		select {
		case j = <-ws.jobs:
		case <-idle.C:
			return
		case <-ws.stopped:
			return
		}
	}
}

// stop ends the workers once their jobs are done; no job may be run after it.
func (ws *workers[J]) stop() {
	close(ws.stopped)
	ws.wg.Wait()
}
