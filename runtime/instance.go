package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// instance is one instantiated plugin module, used by one call at a time.
type instance struct {
	mod    api.Module
	alloc  api.Function
	fns    map[string]api.Function
	stderr *tailBuffer

	// frame is reused to encode inputs, so steady-state calls allocate little on the host side.
	frame []byte

	calls    int
	lastUsed time.Time
}

// newInstance instantiates compiled, running its reactor initialisation.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	stderr := &tailBuffer{max: 16 << 10}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module coexist
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithStderr(stderr).
		WithStartFunctions() // _initialize is called below, under the start deadline
	if p.Mode == Sandboxed {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.rt.cfg.StartTimeout)
		defer cancel()
	}
	compiled, err := p.code(ctx)
	if err != nil {
		return nil, err
	}
	mod, err := p.engine.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate plugin %s: %w", p.label(), err)
	}
	inst := &instance{mod: mod, stderr: stderr, fns: map[string]api.Function{}}
	if init := mod.ExportedFunction("_initialize"); init != nil {
		if _, err := init.Call(ctx); err != nil {
			_ = mod.Close(context.Background())
			return nil, p.trap("_initialize", inst, err)
		}
	}
	inst.alloc = mod.ExportedFunction("alloc")
	for _, name := range []string{"abi_version", "manifest", "shape", "on_subscribe", "on_response"} {
		if fn := mod.ExportedFunction(name); fn != nil {
			inst.fns[name] = fn
		}
	}
	return inst, nil
}

func (inst *instance) close() { _ = inst.mod.Close(context.Background()) }

// call runs export with input written into guest memory and returns a copy of the result. A
// *TrapError means the instance must be dropped; a *PluginError means it may be kept.
func (p *Plugin) call(ctx context.Context, inst *instance, export string, input []byte) ([]byte, error) {
	fn := inst.fns[export]
	if fn == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoHook, export)
	}
	if p.Mode == Sandboxed {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.rt.cfg.CallTimeout)
		defer cancel()
	}
	inst.stderr.reset()
	var args []uint64
	if input != nil {
		res, err := inst.alloc.Call(ctx, uint64(len(input)))
		if err != nil {
			return nil, p.trap(export, inst, err)
		}
		ptr := api.DecodeU32(res[0])
		if !inst.mod.Memory().Write(ptr, input) {
			return nil, &TrapError{Plugin: p.label(), Export: "alloc", Reason: ReasonBadOutput,
				Detail: fmt.Sprintf("alloc(%d) returned %#x, outside memory", len(input), ptr)}
		}
		args = []uint64{uint64(ptr), uint64(len(input))}
	}
	res, err := fn.Call(ctx, args...)
	if err != nil {
		return nil, p.trap(export, inst, err)
	}
	if len(res) != 1 {
		return nil, &TrapError{Plugin: p.label(), Export: export, Reason: ReasonBadOutput, Detail: "no result"}
	}
	ptr, n, isErr := wire.Unpack(res[0])
	if int64(n) > int64(p.rt.cfg.MaxOutputBytes) {
		return nil, &TrapError{Plugin: p.label(), Export: export, Reason: ReasonOutputTooLarge,
			Detail: fmt.Sprintf("%d bytes exceeds the limit of %d", n, p.rt.cfg.MaxOutputBytes)}
	}
	view, ok := inst.mod.Memory().Read(ptr, n)
	if !ok {
		return nil, &TrapError{Plugin: p.label(), Export: export, Reason: ReasonBadOutput,
			Detail: fmt.Sprintf("result [%#x, +%d) lies outside memory", ptr, n)}
	}
	out := append([]byte(nil), view...) // the guest reuses its buffer on the next call
	if isErr {
		e := sdk.DecodeError(out)
		return nil, &PluginError{Plugin: p.label(), Export: export, Message: e.Message, Temporary: e.Retryable}
	}
	return out, nil
}

// trap turns a failed guest call into a TrapError, naming the likely reason from wazero's error and
// what the guest printed.
func (p *Plugin) trap(export string, inst *instance, err error) *TrapError {
	detail := inst.stderr.lastMessage()
	reason := ReasonTrap
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		reason = ReasonTimeout
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled:
		reason = ReasonTimeout
		err = errors.Join(err, context.Canceled)
	case strings.Contains(detail, "out of memory"):
		reason = ReasonOutOfMemory
	case strings.HasPrefix(detail, "panic:"):
		reason = ReasonPanic
	case errors.As(err, &exit):
		reason = ReasonExit
	}
	if reason == ReasonTimeout {
		err = errors.Join(err, context.DeadlineExceeded)
	}
	return &TrapError{Plugin: p.label(), Export: export, Reason: reason, Detail: detail, Err: err}
}

// tailBuffer keeps the last max bytes written to it: a plugin's stderr, whose end holds the reason
// it died.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// reset forgets what earlier calls wrote: only the failing call's output explains its failure.
func (t *tailBuffer) reset() { t.buf = t.buf[:0] }

// lastMessage returns the line that says why the guest died: Go's out-of-memory cause, a panic, a
// fatal error, or else the last line written.
func (t *tailBuffer) lastMessage() string {
	s := string(t.buf)
	for _, marker := range []string{"runtime: out of memory", "panic: ", "fatal error: "} {
		if i := strings.LastIndex(s, marker); i >= 0 {
			return firstLine(s[i:])
		}
	}
	s = strings.TrimRight(s, "\n")
	return firstLine(s[strings.LastIndexByte(s, '\n')+1:])
}
