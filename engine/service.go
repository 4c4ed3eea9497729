package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Service is the one lifecycle every background part of a node has: the engine and, inside it,
// the dispatcher, the ingester and the scheduler; the watcher of the plugins folder. A node starts
// its services in one loop and stops them in the reverse order.
//
// Start begins the work and returns once it runs. Stop ends it: it stops taking new work, lets the
// work in progress finish (within a grace period of the service's own, or until ctx is done), and
// returns when nothing of the service runs any more. Both are safe to call more than once, and Stop
// without Start does nothing.
type Service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// StopInReverse stops services in the reverse of the order they started in, each even when one
// before it failed.
func StopInReverse(ctx context.Context, services []Service) error {
	var errs []error
	for i := len(services) - 1; i >= 0; i-- {
		errs = append(errs, services[i].Stop(ctx))
	}
	return errors.Join(errs...)
}

// Loop is a Service made of one goroutine that runs until its context is cancelled.
type Loop struct {
	// Run is the loop. It returns when ctx is cancelled.
	Run func(ctx context.Context)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

var _ Service = (*Loop)(nil)

// Start starts Run in a goroutine of its own, once.
func (l *Loop) Start(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return nil
	}
	// Not the caller's context: the loop outlives the call that starts it.
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	done := l.doneLocked()
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	return nil
}

// Stop cancels the loop and waits for Run to return, or for ctx to end.
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop: %w", ctx.Err())
	}
}

// Done is closed when Run has returned. It exists before Start, so callers may wait on it first.
func (l *Loop) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.doneLocked()
}

func (l *Loop) doneLocked() chan struct{} {
	if l.done == nil {
		l.done = make(chan struct{})
	}
	return l.done
}
