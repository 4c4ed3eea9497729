package main

import (
	"context"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/runtime"
)

// TestRuntimesMadeAtOnce makes the first runtimes of the process concurrently, as parallel tests
// that each start a node do. wazero v1.12.0 records its own version in a package variable, without
// synchronisation, when it makes its first engine; run with -race, this fails unless runtime.New
// keeps that first engine to itself. It runs before the other tests of this package (which run in
// parallel), and wazero knows its version only in a main package's binary, so it is here.
func TestRuntimesMadeAtOnce(t *testing.T) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	start := make(chan struct{})
	for range 4 {
		wg.Add(1)
		dir := t.TempDir()
		go func() {
			defer wg.Done()
			<-start
			rt, err := runtime.New(ctx, runtime.Config{CacheDir: dir})
			if err != nil {
				errs <- err
				return
			}
			errs <- rt.Close(ctx)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
