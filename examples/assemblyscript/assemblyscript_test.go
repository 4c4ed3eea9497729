// The AssemblyScript plugin is built here with the project's own pinned compiler (package.json and
// its lockfile, installed with npm ci) and run through the same runtime, validation and API as any
// uploaded plugin.
package assemblyscript_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
)

var (
	buildOnce sync.Once
	module    []byte
	buildErr  error
)

// chatWasm installs the pinned compiler when it is missing and builds the module.
func chatWasm(t *testing.T) []byte {
	t.Helper()
	buildOnce.Do(func() { module, buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return module
}

func build() ([]byte, error) {
	run := func(name string, args ...string) error {
		cmd := exec.Command(name, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return &commandError{cmd: name + " " + strings.Join(args, " "), err: err, out: out.String()}
		}
		return nil
	}
	// Test binaries of several packages may get here at once; a file lock makes one install.
	lock, err := os.OpenFile(".npm-install.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join("node_modules", ".package-lock.json")); err != nil {
		if err := run("npm", "ci", "--no-audit", "--no-fund"); err != nil {
			return nil, err
		}
	}
	if err := run("npm", "run", "build"); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join("build", "chat.wasm"))
}

type commandError struct {
	cmd, out string
	err      error
}

func (e *commandError) Error() string { return e.cmd + ": " + e.err.Error() + "\n" + e.out }

func TestChatPluginPassesValidationAndShapes(t *testing.T) {
	t.Parallel()
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t), PoolSize: 1, CallTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	// Everything an upload must pass: imports, exports, ABI version, manifest, the dry run.
	p, err := custom.Validate(context.Background(), rt, chatWasm(t), "chat", runtime.Sandboxed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Manifest(); m.Name != "chat" || m.Version != "1.0.0" || len(m.SampleEvent) == 0 {
		t.Fatalf("manifest %+v", m)
	}
	in := &sdk.Input{
		Event:        sdk.Event{ID: "evt_1", Type: "invoice.update", Entity: sdk.Entity{Type: "invoice", ID: `INV "7"\n`}, Data: []byte(`{"total":1}`)},
		Account:      sdk.Account{ID: "acc_1", Name: "Ünïcødé GmbH ✓"},
		Subscription: sdk.Subscription{ID: "sub_1", URL: "https://chat.example/hook", Options: map[string]string{"ignored": "yes"}},
		Delivery:     sdk.Delivery{ID: "dlv_1", Attempt: 1},
	}
	// Many calls on one pooled instance: its input buffer and heap are reused, not leaked.
	for i := range 500 {
		req, err := p.Shape(context.Background(), in, nil)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i > 0 {
			continue
		}
		if req.Method != "POST" || len(req.Headers) != 2 || req.Headers[0] != (sdk.Header{Name: "content-type", Value: "application/json"}) ||
			req.Headers[1] != (sdk.Header{Name: "x-switchyard-delivery", Value: "dlv_1"}) {
			t.Errorf("request %+v", req)
		}
		if want := `{"text":"invoice.update: invoice INV \"7\"\\n (account Ünïcødé GmbH ✓)"}`; string(req.Body) != want {
			t.Errorf("body\n%s\nwant\n%s", req.Body, want)
		}
	}
	if st := p.Stats(); st.Traps != 0 || st.PluginErrors != 0 || st.LiveInstances != 1 {
		t.Errorf("stats %+v", st)
	}
	// An input it cannot use is a clean plugin error, and the instance is kept.
	_, err = p.Shape(context.Background(), &sdk.Input{}, nil)
	var pe *runtime.PluginError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "the event has no type") {
		t.Errorf("shape of an event without a type: %v", err)
	}
}

// TestChatPluginServesThroughTheAPI uploads the module to a real node and delivers with it.
func TestChatPluginServesThroughTheAPI(t *testing.T) {
	t.Parallel()
	wasm := chatWasm(t)
	node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) { c.Runtime.CallTimeout = 15 * time.Second }})
	node.Admin.MustDo("PUT", "/v1/plugins/chat", wasm, http.StatusCreated, nil)
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("chatty", "")
	tn.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "chat", "events": []string{"client.*"}, "url": rc.URL + "/chat"}, http.StatusCreated, nil)
	tn.App.MustDo("POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "42"}, "data": map[string]any{"id": 42}}, http.StatusAccepted, nil)
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	if want := `{"text":"client.create: client 42 (account chatty account)"}`; got.Path != "/chat" || string(got.Body) != want || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("receiver got %s %v %s", got.Path, got.Header, got.Body)
	}
}
