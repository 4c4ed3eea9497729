// Package runtime hosts Switchyard's WebAssembly plugins on wazero.
//
// Each plugin version is compiled once per process (and once per machine, thanks to the on-disk
// compilation cache) and served by a bounded pool of instances. Calls run in one of two modes:
// Sandboxed, where a deadline interrupts the guest (at a measured cost of about 8x, because wazero
// checks at every loop back-edge and Go's wasm code loops a lot), and Trusted, for plugins built
// from this repository, where it does not. Both cap memory. An instance that traps, panics, runs out
// of memory or time, or returns garbage is closed and dropped; a clean plugin error keeps it.
//
// Secrets never enter the sandbox: a plugin names a key and the host signs (see the sdk package).
package runtime

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Mode is how much a plugin is trusted.
type Mode int

const (
	// Sandboxed calls are interrupted at their deadline. The default for anything uploaded.
	Sandboxed Mode = iota
	// Trusted calls are not interrupted (a runaway loop would hang its caller), which makes them
	// several times faster. Only for plugins built from this repository or marked by the operator.
	Trusted
)

func (m Mode) String() string {
	if m == Trusted {
		return "trusted"
	}
	return "sandboxed"
}

// Config configures a Runtime. The zero value is usable; WithDefaults fills it in.
type Config struct {
	// CacheDir keeps compiled plugins between runs. Empty keeps them in memory only.
	CacheDir string
	// MemoryLimitMiB caps each instance's linear memory. Default 128.
	MemoryLimitMiB int
	// CallTimeout bounds one sandboxed call. Default 1s.
	CallTimeout time.Duration
	// StartTimeout bounds starting a sandboxed instance (Go's runtime initialisation and the
	// plugin's init functions). It is longer than a call's: starting does far more work, and on a
	// busy machine a healthy plugin must not be refused for being slow to start. Default 10s.
	StartTimeout time.Duration
	// PoolSize is the most instances of one plugin that run at once. Default 2 x GOMAXPROCS.
	PoolSize int
	// AcquireWait is the longest a call waits for a free instance (less if its context ends
	// sooner). A call that gets none is refused with a *BusyError and nothing runs: a plugin whose
	// instances are all stuck must not hold its callers, and through them the dispatcher. Default
	// 250ms.
	AcquireWait time.Duration
	// QuarantineAfter is how many calls in a row into a sandboxed plugin must trap (time out, run
	// out of memory, panic, return garbage) before the plugin is quarantined: its calls are refused
	// with a *BusyError for QuarantineFor, then one call probes it. Default 5; negative, never.
	QuarantineAfter int
	// QuarantineFor is how long a quarantine lasts. Default 1 minute.
	QuarantineFor time.Duration
	// OnQuarantine, when set, is told when a plugin's quarantine begins (the engine publishes
	// plugin.quarantined). It must not block.
	OnQuarantine func(plugin string, until time.Time, trapsInARow int, lastTrap string)
	// IdleTimeout is how long an unused instance is kept. Default 2 minutes.
	IdleTimeout time.Duration
	// MinIdle instances per plugin survive idle eviction, so a quiet plugin answers without a cold
	// start (an instance takes milliseconds to make). Default 0: an idle node keeps none, and no
	// instance is kept from loading either; six built-in plugins kept one each for 30 MiB.
	MinIdle int
	// MaxCallsPerInstance recycles an instance after this many calls: Go's wasm heap never shrinks,
	// so a fresh instance returns what a burst of large events grew. Default 100,000.
	MaxCallsPerInstance int
	// MaxOutputBytes is the largest result a plugin may return. Default 8 MiB.
	MaxOutputBytes int
	// ServerKey signs for sdk.KeyServer. Optional.
	ServerKey *rsa.PrivateKey
	// Clock is what plugins read as the time. Default time.Now.
	Clock func() time.Time
	// Logger receives what plugins log. Default slog.Default().
	Logger *slog.Logger
	// ObserveCall, when set, is told of every shape, on_subscribe and on_response call when it
	// ends: the plugin's name, the export, how long it took (waiting for an instance included)
	// and its error. It must be quick: it runs on the delivery's path.
	ObserveCall func(plugin, export string, took time.Duration, err error)
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.MemoryLimitMiB == 0 {
		c.MemoryLimitMiB = 128
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.PoolSize == 0 {
		c.PoolSize = 2 * goruntime.GOMAXPROCS(0)
	}
	if c.AcquireWait == 0 {
		c.AcquireWait = 250 * time.Millisecond
	}
	if c.QuarantineAfter == 0 {
		c.QuarantineAfter = 5
	}
	if c.QuarantineFor == 0 {
		c.QuarantineFor = time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.MaxCallsPerInstance == 0 {
		c.MaxCallsPerInstance = 100_000
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = 8 << 20
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	// Go's wasm runtime needs a few MiB before it runs any plugin code.
	if c.MemoryLimitMiB < 8 || c.MemoryLimitMiB > 4096 {
		errs = append(errs, fmt.Errorf("memory limit %d MiB is outside 8..4096", c.MemoryLimitMiB))
	}
	if c.CallTimeout < 0 || c.StartTimeout < 0 || c.IdleTimeout < 0 || c.AcquireWait < 0 || c.QuarantineFor < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if c.PoolSize < 1 || c.MinIdle < 0 || c.MinIdle > c.PoolSize {
		errs = append(errs, fmt.Errorf("pool size %d and min idle %d: need 1 <= size and 0 <= min idle <= size", c.PoolSize, c.MinIdle))
	}
	if c.MaxCallsPerInstance < 1 || c.MaxOutputBytes < 1 {
		errs = append(errs, errors.New("max calls per instance and max output bytes must be positive"))
	}
	return errors.Join(errs...)
}

// Runtime compiles and runs plugins. It is safe for concurrent use.
type Runtime struct {
	cfg       Config
	cache     wazero.CompilationCache
	trusted   wazero.Runtime
	sandboxed wazero.Runtime
	verdicts  verdicts

	mu      sync.Mutex
	plugins map[*Plugin]struct{}

	stopJanitor context.CancelFunc
	janitorDone chan struct{}
	closeOnce   sync.Once
}

// firstEngine makes the process's first wazero engine before any other, alone. wazero v1.12.0
// records its own version in a package variable the first time it makes an engine or a file
// compilation cache (internal/version.GetWazeroVersion), without synchronisation, so two runtimes
// made at once race on it (caught by -race in cmd/switchyard's parallel tests). After this Do,
// every later call only reads the variable, ordered after the write by the Once.
var firstEngine sync.Once

// New starts a runtime. Close it to release the compiled code and instances.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("runtime config: %w", err)
	}
	r := &Runtime{cfg: cfg, plugins: map[*Plugin]struct{}{}, verdicts: newVerdicts(cfg.CacheDir, hostBuild())}
	firstEngine.Do(func() {
		// An engine without a cache: the compilation caches below ask for wazero's version too.
		_ = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler()).Close(ctx)
	})
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", cfg.CacheDir, err)
		}
		r.cache = cache
	} else {
		r.cache = wazero.NewCompilationCache()
	}
	// One cache serves both runtimes: wazero's cache key includes whether termination checks were
	// compiled in, so the two modes never share machine code.
	pages := uint32(cfg.MemoryLimitMiB) * 16 // 64 KiB pages
	base := wazero.NewRuntimeConfigCompiler().WithCompilationCache(r.cache).WithMemoryLimitPages(pages)
	r.trusted = wazero.NewRuntimeWithConfig(ctx, base.WithCloseOnContextDone(false))
	r.sandboxed = wazero.NewRuntimeWithConfig(ctx, base.WithCloseOnContextDone(true))
	for _, wr := range []wazero.Runtime{r.trusted, r.sandboxed} {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, wr); err != nil {
			r.closeEngines(ctx)
			return nil, fmt.Errorf("instantiate wasi: %w", err)
		}
		if err := r.instantiateHostModule(ctx, wr); err != nil {
			r.closeEngines(ctx)
			return nil, fmt.Errorf("instantiate host module: %w", err)
		}
	}
	jctx, cancel := context.WithCancel(context.Background())
	r.stopJanitor, r.janitorDone = cancel, make(chan struct{})
	go r.janitor(jctx)
	return r, nil
}

// Config returns the runtime's configuration, defaults filled in.
func (r *Runtime) Config() Config { return r.cfg }

func (r *Runtime) engine(mode Mode) wazero.Runtime {
	if mode == Trusted {
		return r.trusted
	}
	return r.sandboxed
}

// janitor evicts idle instances so a burst does not hold memory for ever.
func (r *Runtime) janitor(ctx context.Context) {
	defer close(r.janitorDone)
	interval := max(r.cfg.IdleTimeout/4, 10*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			plugins := make([]*Plugin, 0, len(r.plugins))
			for p := range r.plugins {
				plugins = append(plugins, p)
			}
			r.mu.Unlock()
			cutoff := time.Now().Add(-r.cfg.IdleTimeout)
			for _, p := range plugins {
				p.pool.evictIdle(cutoff, r.cfg.MinIdle)
				p.sleep()
			}
		}
	}
}

func (r *Runtime) forget(p *Plugin) {
	r.mu.Lock()
	delete(r.plugins, p)
	r.mu.Unlock()
}

// Close closes every plugin and releases the runtime. Safe to call more than once.
func (r *Runtime) Close(ctx context.Context) error {
	var err error
	r.closeOnce.Do(func() {
		r.stopJanitor()
		<-r.janitorDone
		r.mu.Lock()
		plugins := make([]*Plugin, 0, len(r.plugins))
		for p := range r.plugins {
			plugins = append(plugins, p)
		}
		r.mu.Unlock()
		for _, p := range plugins {
			p.Close(ctx)
		}
		err = r.closeEngines(ctx)
	})
	return err
}

func (r *Runtime) closeEngines(ctx context.Context) error {
	var errs []error
	for _, wr := range []wazero.Runtime{r.trusted, r.sandboxed} {
		if wr != nil {
			errs = append(errs, wr.Close(ctx))
		}
	}
	errs = append(errs, r.cache.Close(ctx))
	return errors.Join(errs...)
}
