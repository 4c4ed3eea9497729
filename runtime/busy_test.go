package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// TestStuckPoolRefusesCallers: while every instance of a plugin is stuck in a loop, further calls
// wait no longer than AcquireWait, run nothing, and are refused with a *BusyError that says when
// to come back; the pool's stats show the stuck calls.
func TestStuckPoolRefusesCallers(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PoolSize: 2, CallTimeout: 30 * time.Second, AcquireWait: 20 * time.Millisecond, QuarantineAfter: -1})
	p := b.load(t, runtimetest.Build(t, "testdata/hostile/loop"), Sandboxed)
	ctx, cancel := context.WithCancel(context.Background())
	stuck := make(chan error, 2)
	for range 2 {
		go func() { _, err := p.Shape(ctx, sampleInput(), nil); stuck <- err }()
	}
	// Calls counts a call once it holds its instance.
	for p.Stats().Calls < 2 {
		time.Sleep(time.Millisecond)
	}
	_, err := p.Shape(context.Background(), sampleInput(), nil)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Quarantined || busy.PluginBusy() <= 0 {
		t.Fatalf("err %v, want a *BusyError that is not a quarantine", err)
	}
	// A deadline sooner than AcquireWait bounds the wait too.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer dcancel()
	if _, err := p.Shape(dctx, sampleInput(), nil); !errors.As(err, &busy) {
		t.Fatalf("with a deadline: err %v, want a *BusyError", err)
	}
	st := p.Stats()
	if st.Calls != 2 || st.InUse != 2 || st.Capacity != 2 || st.Refused != 2 {
		t.Fatalf("stats %+v: want the refused calls not run, 2 of 2 instances in use, 2 refused", st)
	}
	cancel()
	for range 2 {
		<-stuck
	}
}

// TestQuarantine: a sandboxed plugin whose calls trap QuarantineAfter times in a row is refused
// without running until QuarantineFor has passed; then one call probes it, and a probe that traps
// quarantines it again while a clean call ends the quarantine.
func TestQuarantine(t *testing.T) {
	t.Parallel()
	const after = 3
	b := setup(t, Config{PoolSize: 2, CallTimeout: 100 * time.Millisecond, StartTimeout: 30 * time.Second,
		QuarantineAfter: after, QuarantineFor: 300 * time.Millisecond})
	p := b.load(t, runtimetest.Build(t, "testdata/hostile/loop"), Sandboxed)
	behave := sampleInput()
	behave.Subscription.Options = map[string]string{"behave": "true"}

	// A clean call between traps ends the run.
	for range after - 1 {
		if _, err := p.Shape(context.Background(), sampleInput(), nil); !isTrap(err) {
			t.Fatalf("err %v, want a trap", err)
		}
	}
	if _, err := p.Shape(context.Background(), behave, nil); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.ConsecutiveTraps != 0 || st.Quarantines != 0 {
		t.Fatalf("stats %+v: a clean call should have ended the run of traps", st)
	}

	for range after {
		if _, err := p.Shape(context.Background(), sampleInput(), nil); !isTrap(err) {
			t.Fatalf("err %v, want a trap", err)
		}
	}
	st := p.Stats()
	if st.Quarantines != 1 || !st.QuarantinedUntil.After(time.Now()) || st.LastTrap == "" {
		t.Fatalf("stats %+v: want quarantined after %d traps in a row", st, after)
	}
	calls := st.Calls
	_, err := p.Shape(context.Background(), behave, nil)
	var busy *BusyError
	if !errors.As(err, &busy) || !busy.Quarantined || busy.PluginBusy() <= 0 || busy.PluginBusy() > 300*time.Millisecond {
		t.Fatalf("err %v, want a quarantine refusal", err)
	}
	if p.Stats().Calls != calls {
		t.Fatal("a quarantined plugin ran a call")
	}

	// The probe traps: quarantined again.
	time.Sleep(time.Until(st.QuarantinedUntil))
	if _, err := p.Shape(context.Background(), sampleInput(), nil); !isTrap(err) {
		t.Fatalf("probe: err %v, want a trap", err)
	}
	st = p.Stats()
	if st.Quarantines != 2 || !st.QuarantinedUntil.After(time.Now()) {
		t.Fatalf("stats %+v: a trapping probe should quarantine again", st)
	}

	// A clean probe ends it.
	time.Sleep(time.Until(st.QuarantinedUntil))
	if _, err := p.Shape(context.Background(), behave, nil); err != nil {
		t.Fatalf("clean probe: %v", err)
	}
	if _, err := p.Shape(context.Background(), behave, nil); err != nil {
		t.Fatalf("after the quarantine: %v", err)
	}
	if st := p.Stats(); st.ConsecutiveTraps != 0 || st.Quarantines != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTrustedPluginsAreNotQuarantined: a trusted plugin is built in or vouched for; quarantining a
// built-in format would stop every tenant that uses it.
func TestTrustedPluginsAreNotQuarantined(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PoolSize: 1, QuarantineAfter: 1})
	p := b.load(t, runtimetest.Build(t, "testdata/hostile/panic"), Trusted)
	for range 3 {
		if _, err := p.Shape(context.Background(), sampleInput(), nil); !isTrap(err) {
			t.Fatalf("err %v, want a trap", err)
		}
	}
	if st := p.Stats(); st.Quarantines != 0 || st.Refused != 0 {
		t.Fatalf("stats %+v: a trusted plugin was quarantined", st)
	}
}

func isTrap(err error) bool {
	var trap *TrapError
	return errors.As(err, &trap)
}
