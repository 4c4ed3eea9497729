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

	rt       *Runtime
	engine   wazero.Runtime
	compiled wazero.CompiledModule
	pool     *pool

	calls, pluginErrors, traps atomic.Int64
	closeOnce                  sync.Once
}

// Stats are a plugin's counters since it was loaded.
type Stats struct {
	Calls         int64
	PluginErrors  int64
	Traps         int64
	LiveInstances int
	IdleInstances int
}

// Stats returns the plugin's counters.
func (p *Plugin) Stats() Stats {
	ps := p.pool.stats()
	return Stats{
		Calls:         p.calls.Load(),
		PluginErrors:  p.pluginErrors.Load(),
		Traps:         p.traps.Load(),
		LiveInstances: ps.Live,
		IdleInstances: ps.Idle,
	}
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

// Has reports whether the plugin implements a hook (sdk.HookOnSubscribe, sdk.HookOnResponse).
func (p *Plugin) Has(hook string) bool { return slices.Contains(p.manifest.Hooks, hook) }

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
func (r *Runtime) Load(ctx context.Context, wasm []byte, mode Mode) (*Plugin, error) {
	sum := sha256.Sum256(wasm)
	p := &Plugin{Hash: hex.EncodeToString(sum[:]), Mode: mode, rt: r, engine: r.engine(mode)}

	start := time.Now()
	compiled, err := p.engine.CompileModule(ctx, wasm)
	if err != nil {
		return nil, invalid("not a valid WebAssembly module: %v", err)
	}
	p.CompileTime = time.Since(start)
	p.compiled = compiled
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
	p.pool = newPool(r.cfg.PoolSize, r.cfg.MaxCallsPerInstance, p.newInstance)
	p.pool.put(inst)

	r.mu.Lock()
	r.plugins[p] = struct{}{}
	r.mu.Unlock()
	return p, nil
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
	if v := int32(res[0]); v != sdk.ABIVersion {
		return m, invalid("abi_version() returned %d; this host speaks ABI version %d", v, sdk.ABIVersion)
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
	for _, hook := range m.Hooks {
		if _, ok := inst.fns[hookExports[hook]]; !ok {
			return m, invalid("manifest lists hook %q but the module does not export %q", hook, hookExports[hook])
		}
	}
	return m, nil
}

// Shape runs the plugin's shape on in; the event's data travels as the frame's payload. keys are
// what the plugin may sign with during this call.
func (p *Plugin) Shape(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (_ *sdk.Request, err error) {
	defer p.observe(sdk.ExportShape, time.Now(), &err)
	out, err := p.invoke(ctx, sdk.ExportShape, in, in.Event.Data, keys)
	if err != nil {
		return nil, err
	}
	return p.decodeRequest(sdk.ExportShape, out)
}

// OnSubscribe runs the plugin's on_subscribe hook, which returns the handshake to send.
func (p *Plugin) OnSubscribe(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (_ *sdk.Request, err error) {
	defer p.observe(sdk.ExportOnSubscribe, time.Now(), &err)
	if !p.Has(sdk.HookOnSubscribe) {
		return nil, fmt.Errorf("%w: %s", ErrNoHook, sdk.HookOnSubscribe)
	}
	out, err := p.invoke(ctx, sdk.ExportOnSubscribe, in, nil, keys)
	if err != nil {
		return nil, err
	}
	return p.decodeRequest(sdk.ExportOnSubscribe, out)
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
	out, err := p.invoke(ctx, sdk.ExportOnResponse, in, in.Response.Body, keys)
	if err != nil {
		return nil, err
	}
	v, err := sdk.DecodeVerdict(out)
	if err != nil {
		p.traps.Add(1)
		return nil, &TrapError{Plugin: p.label(), Export: sdk.ExportOnResponse, Reason: ReasonBadOutput, Err: err}
	}
	return v, nil
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

// invoke borrows an instance, runs one export and returns the instance, dropping it if it broke.
func (p *Plugin) invoke(ctx context.Context, export string, in *sdk.Input, payload []byte, keys *signing.Keyring) ([]byte, error) {
	inst, err := p.pool.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.label(), err)
	}
	p.calls.Add(1)
	inst.frame = in.AppendFrame(inst.frame[:0], payload)
	out, err := p.call(withCallState(ctx, &callState{plugin: p.label(), keys: keys}), inst, export, inst.frame)
	var trap *TrapError
	broken := errors.As(err, &trap)
	switch {
	case broken:
		p.traps.Add(1)
	case err != nil:
		p.pluginErrors.Add(1)
	}
	p.pool.release(inst, broken)
	return out, err
}

// Close stops new calls, lets calls in flight finish on their instances, and then releases the
// compiled module. It returns once the last instance is gone or ctx ends. Safe to call twice.
func (p *Plugin) Close(ctx context.Context) {
	p.closeOnce.Do(func() {
		p.rt.forget(p)
		p.pool.close()
		go func() {
			<-p.pool.drained
			_ = p.compiled.Close(context.Background())
		}()
	})
	select {
	case <-p.pool.drained:
	case <-ctx.Done():
	}
}
