package runtime

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
	"github.com/switchyard/switchyard/sdk/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuffer collects what plugins log through the host.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type bundle struct {
	rt   *Runtime
	logs *logBuffer
	key  *rsa.PrivateKey
}

var (
	serverKeyOnce sync.Once
	serverKey     *rsa.PrivateKey
)

func testServerKey(t testing.TB) *rsa.PrivateKey {
	serverKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		serverKey = k
	})
	return serverKey
}

func setup(t testing.TB, cfg Config) *bundle {
	t.Helper()
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.ServerKey == nil {
		cfg.ServerKey = testServerKey(t)
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = runtimetest.CacheDir(t)
	}
	rt, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return &bundle{rt: rt, logs: logs, key: cfg.ServerKey}
}

func (b *bundle) load(t testing.TB, wasm []byte, mode Mode, grants ...Grant) *Plugin {
	t.Helper()
	p, err := b.rt.Load(context.Background(), wasm, mode, grants...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sampleInput() *sdk.Input {
	return &sdk.Input{
		Event: sdk.Event{
			ID: "evt_1", Type: "thing.create", AccountID: "acc_1",
			Entity:     sdk.Entity{Type: "thing", ID: "42"},
			OccurredAt: time.UnixMilli(1700000000123).UTC(),
			Data:       []byte(`{"id":42,"name":"Wid\"get"}`),
		},
		Subscription: sdk.Subscription{ID: "sub_1", URL: "http://127.0.0.1:9/hook", Format: "echo", HasSecret: true},
		Account:      sdk.Account{ID: "acc_1", Name: "Acme"},
		App:          sdk.App{ID: "app_1", Name: "Integrator"},
		Delivery:     sdk.Delivery{ID: "dlv_1", Attempt: 2, Kind: sdk.KindEvent, ConfirmURL: "http://127.0.0.1:9/confirm"},
	}
}

func echoWasm(t testing.TB) []byte { return runtimetest.Build(t, "testdata/echo") }

func TestShapeCarriesTheWholeInputAcrossTheABI(t *testing.T) {
	t.Parallel()
	fixed := time.UnixMilli(1800000000000)
	b := setup(t, Config{Clock: func() time.Time { return fixed }})
	p := b.load(t, echoWasm(t), Sandboxed)

	in := sampleInput()
	in.Subscription.Options = map[string]string{"color": "blue"}
	in.State = json.RawMessage(`{"kept":true}`)
	req, err := p.Shape(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "PUT" || req.Path != "/echo" {
		t.Errorf("method %q path %q, want PUT /echo", req.Method, req.Path)
	}
	var got map[string]any
	if err := json.Unmarshal(req.Body, &got); err != nil {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	want := map[string]any{
		"event_id": "evt_1", "type": "thing.create", "entity": "42", "occurred_at": "2023-11-14T22:13:20.123Z",
		"account": "Acme", "app": "Integrator", "delivery": "dlv_1", "attempt": float64(2),
		"options": map[string]any{"color": "blue"}, "data": map[string]any{"id": float64(42), "name": `Wid"get`},
		"state": map[string]any{"kept": true},
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if h := header(req, "x-now"); h != strconv.FormatInt(fixed.UnixMilli(), 10) {
		t.Errorf("x-now = %q, want the host clock %d", h, fixed.UnixMilli())
	}
	if !strings.Contains(b.logs.String(), "shaping dlv_1") || !strings.Contains(b.logs.String(), "plugin=echo@0.1.0") {
		t.Errorf("plugin log line missing or unattributed: %s", b.logs.String())
	}
}

// A plugin built with an SDK of ABI version 1 keeps working on this host: it gets version 1's JSON
// head, every field of it, and not the binary head of version 2.
func TestAVersion1PluginGetsTheJSONHead(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := b.load(t, runtimetest.Build(t, "testdata/abi1"), Trusted)
	if got := p.Manifest().ABI; got != 1 {
		t.Fatalf("manifest ABI %d, want 1", got)
	}
	in := sampleInput()
	in.Subscription.Options = map[string]string{"color": "blue"}
	in.Event.User = &sdk.User{ID: "u1", Name: "Ann"}
	req, err := p.Shape(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, _, err := wire.SplitFrame(in.AppendFrameFor(1, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Body) != string(head) {
		t.Fatalf("the plugin read the head\n%s\nwant version 1's\n%s", req.Body, head)
	}
	var decoded struct {
		Event struct {
			Type string `json:"type"`
			User struct {
				Name string `json:"name"`
			} `json:"user"`
		} `json:"event"`
		Subscription struct {
			Options map[string]string `json:"options"`
		} `json:"subscription"`
		Delivery struct {
			ID string `json:"id"`
		} `json:"delivery"`
	}
	if err := json.Unmarshal(req.Body, &decoded); err != nil {
		t.Fatalf("the head is not JSON: %v", err)
	}
	if decoded.Event.Type != "thing.create" || decoded.Event.User.Name != "Ann" || decoded.Subscription.Options["color"] != "blue" || decoded.Delivery.ID != "dlv_1" {
		t.Errorf("version 1's head lost fields: %+v", decoded)
	}
}

func TestRandomIsRealOnEveryInstance(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := b.load(t, echoWasm(t), Trusted)
	seen := map[string]bool{}
	for range 5 {
		req, err := p.Shape(context.Background(), sampleInput(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := header(req, "x-random")
		if len(r) != 32 || seen[r] {
			t.Fatalf("x-random %q is missing or repeats: %v", r, seen)
		}
		seen[r] = true
	}
}

func TestSignWithKeysTheGuestOnlyNames(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := b.load(t, echoWasm(t), Sandboxed, GrantServerKey)
	keys := &signing.Keyring{Subscription: "sub-secret", App: "app-secret", SubscriptionPrevious: "whsec_" + base64.StdEncoding.EncodeToString([]byte("old key"))}
	data := sampleInput().Event.Data

	hmacOf := func(key string) []byte {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(data)
		return m.Sum(nil)
	}
	cases := []struct {
		ref, alg string
		verify   func(sig []byte) error
	}{
		{sdk.KeySubscription, sdk.HMACSHA256, func(sig []byte) error { return equal(sig, hmacOf("sub-secret")) }},
		{sdk.KeyApp, sdk.HMACSHA256, func(sig []byte) error { return equal(sig, hmacOf("app-secret")) }},
		{sdk.KeySubscriptionPrevious, sdk.HMACSHA256, func(sig []byte) error { return equal(sig, hmacOf("old key")) }},
		{sdk.KeyServer, sdk.RSASHA256, func(sig []byte) error {
			sum := sha256.Sum256(data)
			return rsa.VerifyPKCS1v15(&b.key.PublicKey, crypto.SHA256, sum[:], sig)
		}},
		{sdk.KeyServer, sdk.RSASHA1, func(sig []byte) error {
			sum := sha1.Sum(data)
			return rsa.VerifyPKCS1v15(&b.key.PublicKey, crypto.SHA1, sum[:], sig)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.ref+"/"+tc.alg, func(t *testing.T) {
			in := sampleInput()
			in.Subscription.Options = map[string]string{"key": tc.ref, "alg": tc.alg}
			keys := *keys
			keys.Usage = &signing.Usage{}
			req, err := p.Shape(context.Background(), in, &keys)
			if err != nil {
				t.Fatal(err)
			}
			// The host knows what the request carries, to keep it to the subscription's URL.
			if used := keys.Usage.Refs(); len(used) != 1 || used[0] != tc.ref {
				t.Errorf("usage %v, want [%s]", used, tc.ref)
			}
			sig, err := base64.StdEncoding.DecodeString(header(req, "x-signature"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.verify(sig); err != nil {
				t.Fatalf("signature does not verify independently: %v", err)
			}
		})
	}

	refusals := []struct{ ref, alg, want string }{
		{"nonexistent", sdk.HMACSHA256, "no such key"},
		{sdk.KeySubscription, sdk.RSASHA256, "unsupported signature algorithm"},
		{sdk.KeyServer, sdk.HMACSHA256, "unsupported signature algorithm"},
	}
	for _, tc := range refusals {
		in := sampleInput()
		in.Subscription.Options = map[string]string{"key": tc.ref, "alg": tc.alg}
		_, err := p.Shape(context.Background(), in, keys)
		var pe *PluginError
		if !errors.As(err, &pe) || !strings.Contains(pe.Message, tc.want) {
			t.Errorf("sign(%s, %s): err %v, want a plugin error containing %q", tc.ref, tc.alg, err, tc.want)
		}
	}
}

// TestServerKeyOnlyByGrant: a plugin not granted the server's key cannot sign with it, and its
// call fails with the host's reason even when the plugin carries on without the signature (issue
// 15, finding 4).
func TestServerKeyOnlyByGrant(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := b.load(t, echoWasm(t), Sandboxed)
	if len(p.Grants()) != 0 {
		t.Fatalf("grants %v without any given", p.Grants())
	}
	in := sampleInput()
	in.Subscription.Options = map[string]string{"key": sdk.KeyServer, "alg": sdk.RSASHA256}
	keys := &signing.Keyring{Subscription: "s", Usage: &signing.Usage{}}
	req, err := p.Shape(context.Background(), in, keys)
	var pe *PluginError
	if !errors.As(err, &pe) || !errors.Is(err, ErrNotGranted) || pe.Retryable() || req != nil ||
		!strings.Contains(pe.Message, "--plugin-key-grants echo=server") {
		t.Fatalf("ungranted server key: %v %+v", err, req)
	}
	if used := keys.Usage.Refs(); len(used) != 0 {
		t.Errorf("usage %v after a refusal", used)
	}
	if !strings.Contains(b.logs.String(), "plugin refused the server key") {
		t.Error("the refusal is not in the log")
	}
	// The same instance serves the next call.
	in.Subscription.Options = map[string]string{"key": sdk.KeySubscription, "alg": sdk.HMACSHA256}
	if _, err := p.Shape(context.Background(), in, keys); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
}

func TestHooks(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := b.load(t, echoWasm(t), Sandboxed)
	if !p.Has(sdk.HookOnSubscribe) || !p.Has(sdk.HookOnResponse) {
		t.Fatalf("hooks %v, want both", p.Manifest().Hooks)
	}
	req, err := p.OnSubscribe(context.Background(), sampleInput(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.URL != "http://127.0.0.1:9/confirm" || string(req.Body) != `{"confirm":"sub_1"}` {
		t.Errorf("handshake %q %s", req.URL, req.Body)
	}

	cases := []struct {
		status  int
		headers []sdk.Header
		body    string
		want    sdk.Verdict
	}{
		{200, nil, `{"callback":{"status":1}}`, sdk.Verdict{Outcome: sdk.OutcomeSuccess, Keep: json.RawMessage(`{"callback":{"status":1}}`)}},
		{410, nil, "", sdk.Verdict{Outcome: sdk.OutcomeDisable, Message: "gone"}},
		{503, []sdk.Header{{Name: "Retry-After", Value: "7"}}, "", sdk.Verdict{Outcome: sdk.OutcomeRetry, RetryAfter: 7 * time.Second}},
		{400, nil, "", sdk.Verdict{Outcome: sdk.OutcomeGiveUp, Message: "status 400"}},
	}
	for _, tc := range cases {
		in := sampleInput()
		in.Response = &sdk.Response{Status: tc.status, Headers: tc.headers, Body: []byte(tc.body)}
		v, err := p.OnResponse(context.Background(), in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != tc.want.Outcome || v.RetryAfter != tc.want.RetryAfter || v.Message != tc.want.Message || string(v.Keep) != string(tc.want.Keep) {
			t.Errorf("status %d: verdict %+v, want %+v", tc.status, v, tc.want)
		}
	}
}

func TestCleanPluginErrorKeepsTheInstance(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PoolSize: 1})
	p := b.load(t, echoWasm(t), Sandboxed)
	in := sampleInput()
	in.Subscription.Options = map[string]string{"fail": "clean"}
	_, err := p.Shape(context.Background(), in, nil)
	var pe *PluginError
	if !errors.As(err, &pe) || !pe.Temporary || pe.Message != "asked to fail" {
		t.Fatalf("err %#v, want a retryable plugin error", err)
	}
	st := p.Stats()
	if st.PluginErrors != 1 || st.Traps != 0 || st.LiveInstances != 1 || st.IdleInstances != 1 {
		t.Fatalf("stats %+v: the instance should have been kept", st)
	}
}

// hostileCase is one misbehaving plugin from testdata/hostile, and how the host must contain it.
type hostileCase struct {
	name string
	// loadErr, when set, is part of the error Load must refuse the module with.
	loadErr string
	// reason is the TrapError reason a call must fail with, when the module loads.
	reason Reason
	detail string
	// slow cases are cut off by the short deadline; the others get a long one, so that they fail
	// for their own reason and not by running out of time.
	slow bool
}

var hostileCases = []hostileCase{
	{name: "loop", reason: ReasonTimeout, slow: true},
	{name: "membomb", reason: ReasonOutOfMemory, detail: "out of memory"},
	{name: "panic", reason: ReasonPanic, detail: "panic: plugin gave up on evt_1"},
	{name: "nilderef", reason: ReasonPanic, detail: "nil pointer dereference"},
	{name: "bigoutput", reason: ReasonOutputTooLarge, detail: "exceeds the limit of 1048576"},
	{name: "initloop", loadErr: "_initialize: timeout", slow: true},
	{name: "badmanifest", loadErr: `manifest name "Bad Name" must be 1-63 lowercase letters`},
	{name: "noexport", loadErr: `is missing required export "shape"`},
	{name: "wrongabi", loadErr: "abi_version() returned 99; this host speaks ABI versions 1 to 2"},
	{name: "abimismatch", loadErr: "manifest() says ABI version 1 where abi_version() returned 2"},
	{name: "badimport", loadErr: "imports switchyard.fetch_url, which the host does not provide"},
}

// hostileConfig is the runtime configuration the hostile tests run with: a small memory cap and
// output limit, and a short deadline for the plugins that never finish.
func hostileConfig(slow bool) Config {
	// The roomy deadline is far above what the memory bomb needs on a quiet machine, so that on a
	// loaded one it still fails by its memory cap, not its deadline.
	cfg := Config{CallTimeout: 30 * time.Second, MemoryLimitMiB: 48, MaxOutputBytes: 1 << 20, PoolSize: 2}
	if slow {
		// Starting an instance gets longer than a call: under the race detector on a loaded
		// machine, the well-behaved plugin's instance missed a 300 ms start deadline while the
		// endless loop ran (_initialize: timeout). initloop still meets the deadline it never ends.
		cfg.CallTimeout, cfg.StartTimeout = 300*time.Millisecond, 2*time.Second
	}
	return cfg
}

func TestHostilePluginsAreContained(t *testing.T) {
	t.Parallel()
	runtimes := map[bool]*bundle{false: setup(t, hostileConfig(false)), true: setup(t, hostileConfig(true))}
	behave := sampleInput()
	behave.Subscription.Options = map[string]string{"behave": "true"}

	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			b := runtimes[tc.slow]
			good := b.load(t, echoWasm(t), Sandboxed)
			defer good.Close(context.Background())
			wasm := runtimetest.Build(t, "testdata/hostile/"+tc.name)
			p, err := b.rt.Load(context.Background(), wasm, Sandboxed)
			if tc.loadErr != "" {
				if !errors.Is(err, ErrInvalidPlugin) || !strings.Contains(err.Error(), tc.loadErr) {
					t.Fatalf("Load: %v\nwant ErrInvalidPlugin containing %q", err, tc.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())

			// While the hostile call runs, another plugin keeps serving.
			stopGood := make(chan struct{})
			goodErr := make(chan error, 1)
			go func() {
				defer close(goodErr)
				for {
					select {
					case <-stopGood:
						return
					default:
					}
					if _, err := good.Shape(context.Background(), sampleInput(), nil); err != nil {
						goodErr <- err
						return
					}
				}
			}()

			start := time.Now()
			_, err = p.Shape(context.Background(), sampleInput(), nil)
			elapsed := time.Since(start)
			close(stopGood)
			if err := <-goodErr; err != nil {
				t.Fatalf("a well-behaved plugin failed while %s ran: %v", tc.name, err)
			}
			var trap *TrapError
			if !errors.As(err, &trap) || trap.Reason != tc.reason || !strings.Contains(trap.Error(), tc.detail) {
				t.Fatalf("Shape: %v\nwant a %s trap mentioning %q", err, tc.reason, tc.detail)
			}
			if tc.reason == ReasonTimeout {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("a timeout should match context.DeadlineExceeded: %v", err)
				}
				// The deadline is the contract being tested, so its bound is asserted, with a
				// margin wide enough for a loaded machine.
				if limit := b.rt.Config().CallTimeout + 2*time.Second; elapsed > limit {
					t.Errorf("the endless loop was stopped after %v, want within %v", elapsed, limit)
				}
			}
			st := p.Stats()
			if st.Traps != 1 || st.LiveInstances != 0 {
				t.Errorf("stats %+v: the trapped instance must be dropped", st)
			}
			// The same pool still serves good calls, from a fresh instance.
			for range 3 {
				req, err := p.Shape(context.Background(), behave, nil)
				if err != nil || string(req.Body) != "fine" {
					t.Fatalf("after the trap: %v %v", req, err)
				}
			}
		})
	}
}

func TestGarbageIsRefusedWithAReason(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	_, err := b.rt.Load(context.Background(), []byte("definitely not wasm"), Sandboxed)
	if !errors.Is(err, ErrInvalidPlugin) || !strings.Contains(err.Error(), "not a valid WebAssembly module") {
		t.Fatalf("Load(garbage) = %v", err)
	}
}

// TestSecretsNeverEnterTheGuest: built-in plugins that sign with the subscription's key and, during
// a rotation, with the previous one, leave no trace of either key in their instance's memory.
func TestSecretsNeverEnterTheGuest(t *testing.T) {
	t.Parallel()
	rawKey := []byte("a very secret signing key, 32b!!")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(rawKey)
	const previous = "the previous key, rotated out but still in its overlap"
	appSecret := "app-secret-that-must-stay-outside"
	for _, c := range []struct{ plugin, eventType, signature, previousSignature string }{
		{"standard", "thing.create", "webhook-signature", "webhook-signature"},
		{"altoviz", "invoice.create", "X-SIGNATURE", "X-SIGNATURE-PREVIOUS"},
	} {
		t.Run(c.plugin, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{PoolSize: 1})
			p := b.load(t, runtimetest.Builtin(t, c.plugin), Trusted)
			keys := &signing.Keyring{Subscription: secret, SubscriptionPrevious: previous, App: appSecret}

			in := sampleInput()
			in.Event.Type = c.eventType
			req, err := p.Shape(context.Background(), in, keys)
			if err != nil {
				t.Fatal(err)
			}
			if header(req, c.signature) == "" || header(req, c.previousSignature) == "" {
				t.Fatalf("no signature with both keys: the test would prove nothing: %+v", req.Headers)
			}
			inst, err := p.pool.acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer p.pool.release(inst, false)
			if inst.calls != 1 {
				t.Fatalf("got a fresh instance (calls=%d), not the one that shaped", inst.calls)
			}
			mem, ok := inst.mod.Memory().Read(0, inst.mod.Memory().Size())
			if !ok || len(mem) == 0 {
				t.Fatal("cannot read guest memory")
			}
			for name, needle := range map[string][]byte{
				"secret": []byte(secret), "base64 key": []byte(secret[len("whsec_"):]), "raw key": rawKey,
				"previous key": []byte(previous), "app secret": []byte(appSecret),
			} {
				if bytes.Contains(mem, needle) {
					t.Errorf("the %s is in the guest's %d bytes of memory", name, len(mem))
				}
			}
			// And the search can find things: the event data the guest did see is there.
			if !bytes.Contains(mem, in.Event.Data) {
				t.Error("the event data is not in guest memory either; the search is broken")
			}
		})
	}
}

func TestPoolUnderConcurrency(t *testing.T) {
	t.Parallel()
	// Every call must wait its turn here: this tests lending, not the refusal of a stuck pool.
	b := setup(t, Config{PoolSize: 3, AcquireWait: 5 * time.Minute})
	for _, mode := range []Mode{Trusted, Sandboxed} {
		p := b.load(t, echoWasm(t), mode)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 32 {
			wg.Go(func() {
				for i := range 20 {
					in := sampleInput()
					in.Event.ID = fmt.Sprintf("evt_%d_%d", g, i)
					in.Event.Data = []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))
					req, err := p.Shape(context.Background(), in, nil)
					if err != nil {
						errs <- err
						return
					}
					var got struct {
						EventID string          `json:"event_id"`
						Data    json.RawMessage `json:"data"`
					}
					if err := json.Unmarshal(req.Body, &got); err != nil || got.EventID != in.Event.ID || string(got.Data) != string(in.Event.Data) {
						errs <- fmt.Errorf("call %s got %s: %v", in.Event.ID, req.Body, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if st := p.Stats(); st.LiveInstances > 3 || st.Calls != 32*20 {
			t.Errorf("%s: stats %+v, want at most 3 instances and 640 calls", mode, st)
		}
	}
}

// TestInstancesOnFirstUseOnly: by default a loaded plugin holds no instance until it is called,
// and an idle one is evicted down to none.
func TestInstancesOnFirstUseOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PoolSize: 4})
	p := b.load(t, echoWasm(t), Trusted)
	if st := p.Stats(); st.LiveInstances != 0 {
		t.Fatalf("after loading: %d instances, want 0", st.LiveInstances)
	}
	if _, err := p.Shape(context.Background(), sampleInput(), nil); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.LiveInstances != 1 || st.IdleInstances != 1 {
		t.Fatalf("after one call: %+v, want one idle instance", st)
	}
	p.pool.evictIdle(time.Now().Add(time.Hour), b.rt.cfg.MinIdle)
	if st := p.Stats(); st.LiveInstances != 0 {
		t.Fatalf("after eviction: %d instances, want 0", st.LiveInstances)
	}
}

// TestDormantPluginCompilesOnUse: a plugin loaded dormant holds no compiled code until it is
// called; the call compiles it again (from the compilation cache) and works; once its instances
// are evicted the janitor lets go of the code again, and the next call compiles it once more. A
// source that gives other bytes than were loaded fails the call instead of running them.
func TestDormantPluginCompilesOnUse(t *testing.T) {
	t.Parallel()
	// A cache of its own: in the shared one, another test's load of the same module may have left
	// a verdict, and a plugin loaded at its verdict is compiled first by its first call, which is
	// not a compilation "again".
	b := setup(t, Config{PoolSize: 4, IdleTimeout: 50 * time.Millisecond, CacheDir: t.TempDir()})
	wasm := echoWasm(t)
	var reads atomic.Int64
	p, err := b.rt.LoadDormant(context.Background(), func() ([]byte, error) { reads.Add(1); return wasm, nil }, Trusted)
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); !st.Dormant || st.Recompiles != 0 {
		t.Fatalf("after loading: %+v, want dormant", st)
	}
	for round := int64(1); round <= 2; round++ {
		if _, err := p.Shape(context.Background(), sampleInput(), nil); err != nil {
			t.Fatalf("call %d: %v", round, err)
		}
		if st := p.Stats(); st.Dormant || st.Recompiles != round || st.LiveInstances != 1 {
			t.Fatalf("after call %d: %+v, want compiled %d times again and one instance", round, st, round)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !p.Stats().Dormant {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: still compiled %v after its last call: %+v", round, 10*time.Second, p.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := reads.Load(); got != 3 {
		t.Errorf("the source was read %d times, want 3 (the load and two compilations)", got)
	}
	// Closed while dormant (replaced, removed): a late call compiles nothing that would outlive it.
	p.Close(context.Background())
	if _, err := p.Shape(context.Background(), sampleInput(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("a call after Close: %v, want ErrClosed", err)
	}
	if st := p.Stats(); !st.Dormant || st.Recompiles != 2 || reads.Load() != 3 {
		t.Errorf("after a call to the closed plugin: %+v, %d reads; want it left dormant", st, reads.Load())
	}

	other := setup(t, Config{IdleTimeout: time.Hour})
	changed := false
	q, err := other.rt.LoadDormant(context.Background(), func() ([]byte, error) {
		if changed {
			return append(slices.Clone(wasm), 0), nil
		}
		return wasm, nil
	}, Trusted)
	if err != nil {
		t.Fatal(err)
	}
	changed = true
	if _, err := q.Shape(context.Background(), sampleInput(), nil); err == nil || !strings.Contains(err.Error(), "changed since it was loaded") {
		t.Errorf("a module that changed under a dormant plugin: %v, want refused", err)
	}
}

// TestLoadDormantWithoutCacheKeepsTheCode: without an on-disk cache, compiling again would cost
// a full compilation, so the plugin keeps its code.
func TestLoadDormantWithoutCacheKeepsTheCode(t *testing.T) {
	t.Parallel()
	rt, err := New(context.Background(), Config{ServerKey: testServerKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	wasm := echoWasm(t)
	p, err := rt.LoadDormant(context.Background(), func() ([]byte, error) { return wasm, nil }, Trusted)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stats().Dormant {
		t.Error("dormant without a compilation cache on disk")
	}
}

func TestPoolEvictsIdleAndRecyclesOldInstances(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PoolSize: 4, MaxCallsPerInstance: 3, MinIdle: 1})
	p := b.load(t, echoWasm(t), Trusted)

	// Three concurrent calls need three instances.
	var wg sync.WaitGroup
	insts := make([]*instance, 3)
	for i := range insts {
		inst, err := p.pool.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		insts[i] = inst
	}
	for _, inst := range insts {
		wg.Go(func() { p.pool.release(inst, false) })
	}
	wg.Wait()
	if st := p.pool.stats(); st.Idle != 3 {
		t.Fatalf("idle %d, want 3", st.Idle)
	}
	p.pool.evictIdle(time.Now().Add(time.Hour), 1)
	if st := p.pool.stats(); st.Idle != 1 || st.Live != 1 {
		t.Fatalf("after eviction %+v, want the one MinIdle instance", st)
	}

	// Recycling: after MaxCallsPerInstance calls an instance is replaced.
	first, _ := p.pool.acquire(context.Background())
	p.pool.release(first, false)
	for range 5 {
		if _, err := p.Shape(context.Background(), sampleInput(), nil); err != nil {
			t.Fatal(err)
		}
	}
	second, _ := p.pool.acquire(context.Background())
	defer p.pool.release(second, false)
	if second == first || second.calls >= 3 {
		t.Fatalf("instance with %d calls was not recycled", second.calls)
	}
}

func TestCloseLetsCallsInFlightFinish(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := b.load(t, echoWasm(t), Sandboxed)
	inst, err := p.pool.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { p.Close(context.Background()); close(closed) }()
	// A new call is refused at once...
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = p.Shape(context.Background(), sampleInput(), nil)
		if errors.Is(err, ErrClosed) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
	// ...while the borrowed instance still works, and Close waits for it.
	select {
	case <-closed:
		t.Fatal("Close returned while an instance was still lent out")
	default:
	}
	out, err := p.call(withCallState(context.Background(), &callState{plugin: p}), inst, sdk.ExportShape, sampleInput().AppendFrame(nil, []byte(`{}`)))
	if err != nil || len(out) == 0 {
		t.Fatalf("in-flight call on a closing plugin: %v", err)
	}
	p.pool.release(inst, false)
	<-closed
}

func TestCompilationCacheIsWrittenAndReused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wasm := runtimetest.Builtin(t, "standard")
	var times []time.Duration
	for range 2 {
		b := setup(t, Config{CacheDir: dir})
		p := b.load(t, wasm, Trusted)
		times = append(times, p.CompileTime)
		_ = b.rt.Close(context.Background())
	}
	entries := cacheEntries(t, dir)
	if entries == 0 {
		t.Fatal("the compilation cache directory is empty after a load")
	}
	t.Logf("compile: first %v, from the cache %v (%d cache files)", times[0], times[1], entries)
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{MemoryLimitMiB: 1}, {PoolSize: -1}, {CallTimeout: -time.Second}, {PoolSize: 1, MinIdle: 2}} {
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("New(%+v) accepted an unusable config", cfg)
		}
	}
}

func header(req *sdk.Request, name string) string {
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func equal(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("got %x, want %x", got, want)
	}
	return nil
}

func cacheEntries(t testing.TB, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
