package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Plugin is one loaded plugin version. It is safe for concurrent use; each call borrows an instance
// from the plugin's pool.
type Plugin struct {
	manifest sdk.Manifest
	// Hash is the hex SHA-256 of the module's bytes: the identity of this version.
	Hash string
	Mode Mode
	// CompileTime is how long compiling took, from the on-disk cache when it had the module.
	CompileTime time.Duration
	// Remembered: LoadDormant neither compiled nor ran the module, since this build of the host had
	// found it valid before (see verdicts), or its build had (LoadDormantKnown); its first call
	// compiles it.
	Remembered bool
	grants     []Grant

	rt     *Runtime
	engine wazero.Runtime
	pool   *pool

	// source gives the module's bytes again, to compile it anew after it went dormant (see
	// LoadDormant); nil: the compiled code is kept for the plugin's life.
	source func() ([]byte, error)
	// codeMu guards compiled, which is nil while the plugin is dormant, and closing: once Close
	// began, nothing compiles it again, or the code would outlive the plugin.
	codeMu   sync.Mutex
	compiled wazero.CompiledModule
	closing  bool
	// compiles counts compilations after the first, for Stats; compiledOnce (under codeMu) is
	// whether there was a first: a plugin remembered at its verdict has none until its first call.
	compiles     atomic.Int64
	compiledOnce bool

	calls, pluginErrors, traps, refused atomic.Int64
	closeOnce                           sync.Once

	health health
}

// health is a sandboxed plugin's run of trapping calls, and its quarantine.
type health struct {
	mu          sync.Mutex
	traps       int       // calls in a row that trapped
	until       time.Time // quarantined until then
	probing     bool      // the one call let through once a quarantine ended is running
	lastTrap    string
	quarantines int64
}

// busyRetry is how much later a call refused for want of an instance should come back: long
// enough that an instance stuck until the call deadline has usually been cut off, short enough
// that a mere burst costs little.
const busyRetry = time.Second

// Stats are a plugin's counters since it was loaded.
type Stats struct {
	Calls         int64
	PluginErrors  int64
	Traps         int64
	LiveInstances int
	IdleInstances int
	// InUse calls hold an instance, of at most Capacity (the pool size); Waiting wait for one.
	InUse, Capacity, Waiting int
	// Dormant: the plugin holds no compiled code now; Recompiles counts how often it was
	// compiled again on a call after that.
	Dormant    bool
	Recompiles int64
	// Refused counts calls refused with a *BusyError: no instance in time, or quarantined.
	Refused int64
	// ConsecutiveTraps is how many calls in a row trapped; Quarantines how often the plugin was
	// quarantined; QuarantinedUntil is in the future while it is; LastTrap says why the last
	// trapping call failed.
	ConsecutiveTraps int
	Quarantines      int64
	QuarantinedUntil time.Time
	LastTrap         string
}

// Stats returns the plugin's counters.
func (p *Plugin) Stats() Stats {
	ps := p.pool.stats()
	st := Stats{
		Calls:         p.calls.Load(),
		PluginErrors:  p.pluginErrors.Load(),
		Traps:         p.traps.Load(),
		LiveInstances: ps.Live,
		IdleInstances: ps.Idle,
		InUse:         ps.InUse,
		Capacity:      ps.Capacity,
		Waiting:       ps.Waiting,
		Refused:       p.refused.Load(),
		Recompiles:    p.compiles.Load(),
	}
	p.codeMu.Lock()
	st.Dormant = p.compiled == nil
	p.codeMu.Unlock()
	h := &p.health
	h.mu.Lock()
	st.ConsecutiveTraps, st.Quarantines, st.QuarantinedUntil, st.LastTrap = h.traps, h.quarantines, h.until, h.lastTrap
	h.mu.Unlock()
	return st
}

func (p *Plugin) label() string {
	if p.manifest.Name == "" {
		return "(loading)"
	}
	return p.manifest.Name + "@" + p.manifest.Version
}

// Manifest returns the plugin's manifest, which the caller must not modify.
func (p *Plugin) Manifest() sdk.Manifest { return p.manifest }

// Version identifies this exact module: name@version#first 12 hex digits of its hash. Two uploads
// with the same declared version but different code get different Versions.
func (p *Plugin) Version() string { return p.label() + "#" + p.Hash[:12] }

// Grants returns the keys beyond the default ones the plugin may sign with.
func (p *Plugin) Grants() []Grant { return slices.Clone(p.grants) }

func (p *Plugin) granted(g Grant) bool { return slices.Contains(p.grants, g) }

// Has reports whether the plugin implements a hook (sdk.HookOnSubscribe, sdk.HookOnResponse).
func (p *Plugin) Has(hook string) bool { return slices.Contains(p.manifest.Hooks, hook) }

// Sandboxed tells the engine to cap what the plugin's manifest may ask of it (its delivery timeout).
func (p *Plugin) Sandboxed() bool { return p.Mode == Sandboxed }

// signature of an export: parameter and result types.
type signature struct {
	params, results []api.ValueType
}

var (
	sigShape = signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}}

	requiredExports = map[string]signature{
		"abi_version":      {nil, []api.ValueType{i32}},
		"alloc":            {[]api.ValueType{i32}, []api.ValueType{i32}},
		sdk.ExportManifest: {nil, []api.ValueType{i64}},
		sdk.ExportShape:    sigShape,
	}
	hookExports = map[string]string{sdk.HookOnSubscribe: sdk.ExportOnSubscribe, sdk.HookOnResponse: sdk.ExportOnResponse}
)

// Load compiles a plugin module and checks it before anything runs it for real: it must import
// only what the host provides, export the ABI with the right signatures, report this host's ABI
// version and return a valid manifest. Every refusal wraps ErrInvalidPlugin and names the problem.
// grants are the keys beyond the default ones this plugin may sign with (GrantServerKey).
func (r *Runtime) Load(ctx context.Context, wasm []byte, mode Mode, grants ...Grant) (*Plugin, error) {
	return r.load(ctx, wasm, ModuleHash(wasm), mode, grants)
}

// ModuleHash is a module's identity (Plugin.Hash): the hex SHA-256 of its bytes.
func ModuleHash(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// newPlugin is a plugin of the module with this hash, yet without its code or manifest.
func (r *Runtime) newPlugin(hash string, mode Mode, grants []Grant) *Plugin {
	p := &Plugin{Hash: hash, Mode: mode, rt: r, engine: r.engine(mode), grants: slices.Clone(grants)}
	p.pool = newPool(r.cfg.PoolSize, r.cfg.MaxCallsPerInstance, r.cfg.AcquireWait, p.newInstance)
	return p
}

// register makes a loaded plugin one that Close releases.
func (r *Runtime) register(p *Plugin) {
	r.mu.Lock()
	r.plugins[p] = struct{}{}
	r.mu.Unlock()
}

func (r *Runtime) load(ctx context.Context, wasm []byte, hash string, mode Mode, grants []Grant) (*Plugin, error) {
	p := r.newPlugin(hash, mode, grants)
	start := time.Now()
	compiled, err := p.compile(ctx, wasm)
	if err != nil {
		return nil, invalid("not a valid WebAssembly module: %v", err)
	}
	p.CompileTime = time.Since(start)
	p.compiled, p.compiledOnce = compiled, true
	if err := checkModuleShape(compiled); err != nil {
		_ = compiled.Close(ctx)
		return nil, err
	}

	inst, err := p.newInstance(ctx)
	if err != nil {
		_ = compiled.Close(ctx)
		return nil, fmt.Errorf("%w: %w", ErrInvalidPlugin, err)
	}
	manifest, err := p.readManifest(ctx, inst)
	if err != nil {
		inst.close()
		_ = compiled.Close(ctx)
		return nil, err
	}
	p.manifest = manifest
	if r.cfg.MinIdle > 0 {
		p.pool.put(inst)
	} else {
		// Made to read the manifest; the first call makes its own, so a plugin never called costs
		// its compiled code only.
		inst.close()
	}
	r.register(p)
	return p, nil
}

// LoadDormant loads a plugin as Load does, then lets go of its compiled code until a call needs
// it, and again whenever it has had no instance for the runtime's IdleTimeout: compiled code and
// wazero's decoded module are most of what a loaded plugin holds (the six built-in plugins, 60-70
// MiB of an idle node's memory), and a node runs few of its formats, often none for hours. A call
// to a dormant plugin compiles it again from the bytes source gives, which the on-disk compilation
// cache makes quick (tens of milliseconds, not seconds); without a CacheDir it would recompile
// from scratch, so the plugin then keeps its code, as Load's do. A module this build of the host
// found valid before is taken at its remembered manifest and not compiled at all (see verdicts).
func (r *Runtime) LoadDormant(ctx context.Context, source func() ([]byte, error), mode Mode, grants ...Grant) (*Plugin, error) {
	return r.LoadDormantKnown(ctx, source, nil, mode, grants...)
}

// Known is a module's manifest as its build read it from the module: `make plugins` asks each
// built-in plugin for its manifest and embeds it beside the module (see package builtin).
type Known struct {
	// Hash is the module's ModuleHash: the manifest is that module's and no other's.
	Hash     string       `json:"hash"`
	Manifest sdk.Manifest `json:"manifest"`
}

// LoadDormantKnown is LoadDormant for a module whose manifest is known already: when known is
// this module's (the same hash) and its manifest valid, the plugin is taken at it, as at a verdict,
// without compiling the module, which its first call then does. A first start of the server thus
// compiles none of the built-in plugins (about a second each on two cores) and becomes ready at
// once. Otherwise, known nil included, it is LoadDormant.
func (r *Runtime) LoadDormantKnown(ctx context.Context, source func() ([]byte, error), known *Known, mode Mode, grants ...Grant) (*Plugin, error) {
	wasm, err := source()
	if err != nil {
		return nil, fmt.Errorf("read plugin module: %w", err)
	}
	hash := ModuleHash(wasm)
	if r.cfg.CacheDir == "" {
		return r.load(ctx, wasm, hash, mode, grants)
	}
	m, ok := r.verdicts.manifest(hash)
	if !ok && known != nil && known.Hash == hash {
		m = known.Manifest
		ok = ValidateManifest(&m) == nil
	}
	if ok {
		p := r.newPlugin(hash, mode, grants)
		p.manifest, p.source, p.Remembered = m, source, true
		r.register(p)
		return p, nil
	}
	p, err := r.load(ctx, wasm, hash, mode, grants)
	if err != nil {
		return p, err
	}
	r.verdicts.remember(hash, p.manifest)
	p.source = source
	p.sleep()
	return p, nil
}

// compile compiles wasm, one compilation of a module at a time (see lockCompile).
func (p *Plugin) compile(ctx context.Context, wasm []byte) (wazero.CompiledModule, error) {
	unlock := p.rt.lockCompile(p.Hash, p.Mode)
	defer unlock()
	return p.engine.CompileModule(ctx, wasm)
}

// code returns the compiled module, compiling it again if the plugin is dormant.
func (p *Plugin) code(ctx context.Context) (wazero.CompiledModule, error) {
	p.codeMu.Lock()
	defer p.codeMu.Unlock()
	if p.compiled != nil {
		return p.compiled, nil
	}
	if p.closing {
		return nil, ErrClosed
	}
	wasm, err := p.source()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: read its module again: %w", p.label(), err)
	}
	if ModuleHash(wasm) != p.Hash {
		return nil, fmt.Errorf("plugin %s: its module changed since it was loaded", p.label())
	}
	start := time.Now()
	compiled, err := p.compile(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: compile again: %w", p.label(), err)
	}
	// The first call after a quiet spell, or after a restart, waits for this: an operator
	// wondering why should see it.
	took := time.Since(start).Round(time.Millisecond)
	if p.compiledOnce {
		p.rt.cfg.Logger.Info("dormant plugin compiled again for a call", "plugin", p.Version(), "took", took)
		p.compiles.Add(1)
	} else {
		p.rt.cfg.Logger.Info("plugin compiled for its first call", "plugin", p.Version(), "took", took)
	}
	p.compiled, p.compiledOnce = compiled, true
	return compiled, nil
}

// sleep lets go of the compiled code of a plugin loaded by LoadDormant that has no instance. An
// instance being made holds the pool's count first and then waits for codeMu in code, so either
// this sees it and keeps the code, or the instance compiles anew.
func (p *Plugin) sleep() {
	if p.source == nil {
		return
	}
	p.codeMu.Lock()
	defer p.codeMu.Unlock()
	if p.compiled == nil || p.pool.stats().Live > 0 {
		return
	}
	_ = p.compiled.Close(context.Background())
	p.compiled = nil
}

func checkModuleShape(compiled wazero.CompiledModule) error {
	var problems []string
	for _, fn := range compiled.ImportedFunctions() {
		module, name, _ := fn.Import()
		switch {
		case module == "wasi_snapshot_preview1":
		case module == hostModule && hostFunctions[name]:
		default:
			problems = append(problems, fmt.Sprintf("imports %s.%s, which the host does not provide", module, name))
		}
	}
	if len(compiled.ImportedMemories()) > 0 {
		problems = append(problems, "imports its memory; a plugin must define and export its own")
	}
	exports := compiled.ExportedFunctions()
	names := make([]string, 0, len(requiredExports))
	for name := range requiredExports {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if problem := checkExport(exports, name, requiredExports[name], true); problem != "" {
			problems = append(problems, problem)
		}
	}
	for _, name := range []string{sdk.ExportOnSubscribe, sdk.ExportOnResponse} {
		if problem := checkExport(exports, name, sigShape, false); problem != "" {
			problems = append(problems, problem)
		}
	}
	if _, ok := compiled.ExportedMemories()["memory"]; !ok {
		problems = append(problems, `is missing required export "memory"`)
	}
	if len(problems) > 0 {
		return invalid("module %s", joinProblems(problems))
	}
	return nil
}

func checkExport(exports map[string]api.FunctionDefinition, name string, want signature, required bool) string {
	def, ok := exports[name]
	if !ok {
		if required {
			return fmt.Sprintf("is missing required export %q", name)
		}
		return ""
	}
	if !slices.Equal(def.ParamTypes(), want.params) || !slices.Equal(def.ResultTypes(), want.results) {
		return fmt.Sprintf("exports %q as %s, want %s", name, formatSig(def.ParamTypes(), def.ResultTypes()), formatSig(want.params, want.results))
	}
	return ""
}

func formatSig(params, results []api.ValueType) string {
	f := func(ts []api.ValueType) string {
		s := "("
		for i, t := range ts {
			if i > 0 {
				s += ", "
			}
			s += api.ValueTypeName(t)
		}
		return s + ")"
	}
	return f(params) + " -> " + f(results)
}

func joinProblems(problems []string) string {
	s := ""
	for i, p := range problems {
		if i > 0 {
			s += "; "
		}
		s += p
	}
	return s
}

func (p *Plugin) readManifest(ctx context.Context, inst *instance) (sdk.Manifest, error) {
	var m sdk.Manifest
	res, err := inst.fns["abi_version"].Call(ctx)
	if err != nil {
		return m, fmt.Errorf("%w: abi_version() failed: %w", ErrInvalidPlugin, p.trap("abi_version", inst, err))
	}
	version := int32(res[0])
	if version < oldestABIVersion || version > sdk.ABIVersion {
		return m, invalid("abi_version() returned %d; this host speaks ABI versions %d to %d", version, oldestABIVersion, sdk.ABIVersion)
	}
	out, err := p.call(ctx, inst, sdk.ExportManifest, nil)
	if err != nil {
		return m, fmt.Errorf("%w: manifest() failed: %w", ErrInvalidPlugin, err)
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return m, invalid("manifest() returned invalid JSON: %v", err)
	}
	if err := ValidateManifest(&m); err != nil {
		return m, err
	}
	if m.ABI != int(version) {
		return m, invalid("manifest() says ABI version %d where abi_version() returned %d", m.ABI, version)
	}
	for _, hook := range m.Hooks {
		if _, ok := inst.fns[hookExports[hook]]; !ok {
			return m, invalid("manifest lists hook %q but the module does not export %q", hook, hookExports[hook])
		}
	}
	return m, nil
}

// Shape runs the plugin's shape on in; the event's data travels as the frame's payload. keys are
// what the plugin may sign with during this call.
func (p *Plugin) Shape(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (req *sdk.Request, err error) {
	defer p.observe(sdk.ExportShape, time.Now(), &err)
	err = p.invoke(ctx, sdk.ExportShape, in, in.Event.Data, keys, func(out []byte) (err error) {
		req, err = p.decodeRequest(sdk.ExportShape, out)
		return err
	})
	return req, err
}

// OnSubscribe runs the plugin's on_subscribe hook, which returns the handshake to send.
func (p *Plugin) OnSubscribe(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (_ *sdk.Request, err error) {
	defer p.observe(sdk.ExportOnSubscribe, time.Now(), &err)
	if !p.Has(sdk.HookOnSubscribe) {
		return nil, fmt.Errorf("%w: %s", ErrNoHook, sdk.HookOnSubscribe)
	}
	var req *sdk.Request
	err = p.invoke(ctx, sdk.ExportOnSubscribe, in, nil, keys, func(out []byte) (err error) {
		req, err = p.decodeRequest(sdk.ExportOnSubscribe, out)
		return err
	})
	return req, err
}

// OnResponse runs the plugin's on_response hook on in.Response.
func (p *Plugin) OnResponse(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (_ *sdk.Verdict, err error) {
	defer p.observe(sdk.ExportOnResponse, time.Now(), &err)
	if !p.Has(sdk.HookOnResponse) {
		return nil, fmt.Errorf("%w: %s", ErrNoHook, sdk.HookOnResponse)
	}
	if in.Response == nil {
		return nil, errors.New("on_response needs a response")
	}
	var v *sdk.Verdict
	err = p.invoke(ctx, sdk.ExportOnResponse, in, in.Response.Body, keys, func(out []byte) (err error) {
		if v, err = sdk.DecodeVerdict(out); err != nil {
			p.traps.Add(1)
			return &TrapError{Plugin: p.label(), Export: sdk.ExportOnResponse, Reason: ReasonBadOutput, Err: err}
		}
		return nil
	})
	return v, err
}

// observe reports a finished call to Config.ObserveCall. Deferred, it sees the error the caller
// gets, bad output included.
func (p *Plugin) observe(export string, started time.Time, err *error) {
	if f := p.rt.cfg.ObserveCall; f != nil {
		f(p.manifest.Name, export, time.Since(started), *err)
	}
}

func (p *Plugin) decodeRequest(export string, out []byte) (*sdk.Request, error) {
	req, err := sdk.DecodeRequest(out)
	if err != nil {
		p.traps.Add(1)
		return nil, &TrapError{Plugin: p.label(), Export: export, Reason: ReasonBadOutput, Err: err}
	}
	return req, nil
}

// invoke borrows an instance, runs one export, returns the instance (dropping it if it broke) and
// decodes the result. A quarantined plugin, or one with no instance free in time, runs nothing and
// gives a *BusyError.
func (p *Plugin) invoke(ctx context.Context, export string, in *sdk.Input, payload []byte, keys *signing.Keyring, decode func([]byte) error) error {
	probe, err := p.admit(time.Now())
	if err != nil {
		p.refused.Add(1)
		return err
	}
	if p.source != nil {
		// A dormant plugin compiles before its calls queue for instances, so the wait counts
		// against the call's deadline and not against AcquireWait: a burst's first calls were
		// refused as busy while the first of them compiled.
		if _, err := p.code(ctx); err != nil {
			p.endProbe(probe)
			return err
		}
	}
	inst, err := p.pool.acquire(ctx)
	if err != nil {
		p.endProbe(probe)
		if errors.Is(err, errNoInstance) {
			p.refused.Add(1)
			return &BusyError{Plugin: p.label(), RetryIn: busyRetry}
		}
		return fmt.Errorf("plugin %s: %w", p.label(), err)
	}
	p.calls.Add(1)
	inst.frame = in.AppendFrameFor(p.manifest.ABI, inst.frame[:0], payload)
	state := &callState{plugin: p, keys: keys}
	out, err := p.call(withCallState(ctx, state), inst, export, inst.frame)
	var trap *TrapError
	broken := errors.As(err, &trap)
	if !broken && state.refused != nil {
		// Whatever the plugin made of the refusal, the call fails with the host's own reason: a
		// plugin that hid it would leave the operator guessing why it signs nothing.
		out, err = nil, &PluginError{Plugin: p.label(), Export: export, Message: state.refused.Error(), Err: state.refused}
	}
	switch {
	case broken:
		p.traps.Add(1)
	case err != nil:
		p.pluginErrors.Add(1)
	}
	p.pool.release(inst, broken)
	if err == nil {
		err = decode(out)
	}
	if !errors.As(err, &trap) {
		trap = nil
	}
	p.settle(probe, trap, time.Now())
	return err
}

// admit decides whether a call may run now: not while the plugin is quarantined, and, once the
// quarantine has ended, only one call (the probe) until that call shows whether the plugin
// recovered. Only sandboxed plugins are quarantined: a trusted one is built into this binary or
// vouched for by the operator, and quarantining a built-in format would stop every tenant that
// uses it.
func (p *Plugin) admit(now time.Time) (probe bool, err error) {
	limit := p.rt.cfg.QuarantineAfter
	if p.Mode != Sandboxed || limit < 0 {
		return false, nil
	}
	h := &p.health
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case now.Before(h.until):
		return false, &BusyError{Plugin: p.label(), Quarantined: true, RetryIn: h.until.Sub(now)}
	case h.traps < limit:
		return false, nil
	case h.probing:
		return false, &BusyError{Plugin: p.label(), Quarantined: true, RetryIn: busyRetry}
	}
	h.probing = true
	return true, nil
}

// endProbe lets another call probe, when the probe ran nothing.
func (p *Plugin) endProbe(probe bool) {
	if probe {
		p.health.mu.Lock()
		p.health.probing = false
		p.health.mu.Unlock()
	}
}

// settle records how a call that ran ended: a trap lengthens the run of traps, and quarantines the
// plugin once the run is long enough; anything else (a result, a clean plugin error) ends the run.
func (p *Plugin) settle(probe bool, trap *TrapError, now time.Time) {
	limit := p.rt.cfg.QuarantineAfter
	if p.Mode != Sandboxed || limit < 0 {
		return
	}
	h := &p.health
	h.mu.Lock()
	if probe {
		h.probing = false
	}
	if trap == nil {
		h.traps = 0
		h.mu.Unlock()
		return
	}
	h.traps++
	h.lastTrap = trap.Error()
	began := false
	if h.traps >= limit {
		began = !now.Before(h.until)
		if began {
			h.quarantines++
		}
		h.until = now.Add(p.rt.cfg.QuarantineFor)
	}
	traps, until := h.traps, h.until
	h.mu.Unlock()
	if began {
		p.rt.cfg.Logger.Warn("plugin quarantined", "plugin", p.Version(), "traps_in_a_row", traps,
			"until", until.UTC().Format(time.RFC3339), "last_trap", trap.Error())
		if f := p.rt.cfg.OnQuarantine; f != nil {
			f(p.Manifest().Name, until, traps, trap.Error())
		}
	}
}

// Close stops new calls, lets calls in flight finish on their instances, and then releases the
// compiled module. It returns once the last instance is gone or ctx ends. Safe to call twice.
func (p *Plugin) Close(ctx context.Context) {
	p.closeOnce.Do(func() {
		p.codeMu.Lock()
		p.closing = true
		p.codeMu.Unlock()
		p.rt.forget(p)
		p.pool.close()
		go func() {
			<-p.pool.drained
			p.codeMu.Lock()
			defer p.codeMu.Unlock()
			if p.compiled != nil {
				_ = p.compiled.Close(context.Background())
				p.compiled = nil
			}
		}()
	})
	select {
	case <-p.pool.drained:
	case <-ctx.Done():
	}
}
