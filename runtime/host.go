package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// hostModule is the import module plugins link against. Each function writes into memory the guest
// provides and never calls back into the guest, so a call is one trip across the boundary.
const hostModule = "switchyard"

// hostFunctions lists the imports a plugin may use, so Load can name any other import it finds.
var hostFunctions = map[string]bool{"sign": true, "now_ms": true, "random": true, "log": true}

// maxLogBytes bounds one log line from a plugin, so a plugin cannot flood the host's log with one call.
const maxLogBytes = 4096

type callStateKey struct{}

// callState is what host functions need to know about the call in progress.
type callState struct {
	plugin *Plugin
	keys   *signing.Keyring
	// refused is set when the plugin asked for a key it was not granted; the call then fails.
	refused error
}

// Grant names a key a plugin may sign with only when it is given: the defaults (the subscription's
// secrets and the app's) are made for the subscription the call serves, and the host keeps what is
// signed with them to that subscription's URL, but the server's key is trusted by every receiver of
// every subscription, so a plugin that could sign with it could speak for all of them.
type Grant string

// GrantServerKey lets a plugin sign with the server's private key (sdk.KeyServer). Built-in plugins
// have it; others only when the operator grants it by name.
const GrantServerKey Grant = sdk.KeyServer

// ParseGrant reads a grant by the key's name, as the operator writes it.
func ParseGrant(s string) (Grant, error) {
	if g := Grant(s); g == GrantServerKey {
		return g, nil
	}
	return "", fmt.Errorf("%q is not a key that can be granted; the only one is %q (the other keys are every plugin's, and bound to their subscription)", s, GrantServerKey)
}

func withCallState(ctx context.Context, s *callState) context.Context {
	return context.WithValue(ctx, callStateKey{}, s)
}

func callStateFrom(ctx context.Context) *callState {
	s, _ := ctx.Value(callStateKey{}).(*callState)
	return s
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func (r *Runtime) instantiateHostModule(ctx context.Context, wr wazero.Runtime) error {
	b := wr.NewHostModuleBuilder(hostModule)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.hostSign), []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("key_ptr", "key_len", "alg_ptr", "alg_len", "msg_ptr", "msg_len", "out_ptr", "out_cap").
		Export("sign")
	b.NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
			stack[0] = uint64(r.cfg.Clock().UnixMilli())
		}), nil, []api.ValueType{i64}).
		Export("now_ms")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostRandom), []api.ValueType{i32, i32}, nil).
		WithParameterNames("ptr", "len").
		Export("random")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export("log")
	_, err := b.Instantiate(ctx)
	return err
}

// hostSign signs on the guest's behalf with a key the guest only names. It returns the signature's
// length, or one of the sdk.SignErr codes.
func (r *Runtime) hostSign(ctx context.Context, m api.Module, stack []uint64) {
	ret := func(v int32) { stack[0] = api.EncodeI32(v) }
	mem := m.Memory()
	keyRef, ok1 := mem.Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	alg, ok2 := mem.Read(api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
	msg, ok3 := mem.Read(api.DecodeU32(stack[4]), api.DecodeU32(stack[5]))
	outPtr, outCap := api.DecodeU32(stack[6]), api.DecodeU32(stack[7])
	state := callStateFrom(ctx)
	if !ok1 || !ok2 || !ok3 || state == nil {
		ret(sdk.SignErrFailed)
		return
	}
	keys := state.keys
	if keys == nil {
		keys = &signing.Keyring{}
	}
	ref := string(keyRef)
	var sig []byte
	var err error
	if ref == sdk.KeyServer {
		sig, err = r.signWithServerKey(ctx, state, keys, string(alg), msg)
	} else {
		sig, err = keys.Sign(ref, string(alg), msg)
	}
	switch {
	case errors.Is(err, ErrNotGranted):
		ret(sdk.SignErrNotGranted)
	case errors.Is(err, sdk.ErrNoKey):
		ret(sdk.SignErrNoKey)
	case errors.Is(err, sdk.ErrAlgorithm):
		ret(sdk.SignErrAlgorithm)
	case err != nil:
		ret(sdk.SignErrFailed)
	case uint32(len(sig)) > outCap:
		ret(sdk.SignErrBufferSmall)
	case !mem.Write(outPtr, sig):
		ret(sdk.SignErrFailed)
	default:
		ret(int32(len(sig)))
	}
}

// signWithServerKey signs for a plugin granted the server's key, and records the refusal of one
// that is not, so that its call fails whatever it does next.
func (r *Runtime) signWithServerKey(ctx context.Context, state *callState, keys *signing.Keyring, alg string, msg []byte) ([]byte, error) {
	if state.plugin == nil || !state.plugin.granted(GrantServerKey) {
		name, label := "NAME", "(unknown)"
		if state.plugin != nil {
			name, label = state.plugin.manifest.Name, state.plugin.label()
		}
		state.refused = fmt.Errorf("%w: the plugin asked the host to sign with the server key, which receivers of every subscription trust; "+
			"the operator has not granted it that key (to grant it, start switchyard with --plugin-key-grants %s=server)", ErrNotGranted, name)
		r.cfg.Logger.WarnContext(ctx, "plugin refused the server key: not granted", "plugin", label)
		return nil, state.refused
	}
	key := keys.Server
	if key == nil {
		key = r.cfg.ServerKey
	}
	if key == nil {
		return nil, sdk.ErrNoKey
	}
	sig, err := signing.SignRSA(key, alg, msg)
	if err == nil && keys.Usage != nil {
		keys.Usage.Add(sdk.KeyServer)
	}
	return sig, err
}

func hostRandom(_ context.Context, m api.Module, stack []uint64) {
	buf, ok := m.Memory().Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if ok {
		_, _ = rand.Read(buf) // Read writes through the view straight into guest memory.
	}
}

func (r *Runtime) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	level := sdk.LogLevel(api.DecodeI32(stack[0]))
	n := min(api.DecodeU32(stack[2]), maxLogBytes)
	msg, ok := m.Memory().Read(api.DecodeU32(stack[1]), n)
	if !ok {
		return
	}
	plugin := ""
	if s := callStateFrom(ctx); s != nil && s.plugin != nil {
		plugin = s.plugin.label()
	}
	var lvl slog.Level
	switch level {
	case sdk.LevelDebug:
		lvl = slog.LevelDebug
	case sdk.LevelWarn:
		lvl = slog.LevelWarn
	case sdk.LevelError:
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	r.cfg.Logger.Log(ctx, lvl, string(msg), "plugin", plugin)
}
