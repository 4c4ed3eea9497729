package cloudevents_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/cloudevents"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const secret = "a-subscription-secret"

func input(options map[string]string) *sdk.Input {
	return &sdk.Input{
		Event: sdk.Event{
			ID: "evt_1", Type: "invoice.update", AccountID: "acc_1",
			Entity:     sdk.Entity{Type: "invoice", ID: "inv-7"},
			OccurredAt: time.Date(2025, 3, 1, 12, 30, 45, 123e6, time.UTC),
			Data:       []byte(`{"id":"inv-7","total":"19.99","note":"naïve ✓"}`),
		},
		Subscription: sdk.Subscription{ID: "sub_1", URL: "https://hooks.example/ce", Format: "cloudevents", HasSecret: true, Options: options},
		Delivery:     sdk.Delivery{ID: "dlv_1", Attempt: 1, Kind: sdk.KindEvent},
	}
}

// shapers run the plugin natively and through its real compiled module, sandboxed as an uploaded
// plugin runs.
var shapers = map[string]func(t *testing.T, in *sdk.Input) *sdk.Request{
	"native": func(t *testing.T, in *sdk.Input) *sdk.Request {
		req, err := sdktest.Shape(&cloudevents.Plugin, &sdktest.Host{Keys: signing.Keyring{Subscription: secret}}, in)
		if err != nil {
			t.Fatal(err)
		}
		return req
	},
	"wasm": func(t *testing.T, in *sdk.Input) *sdk.Request {
		p := load(t)
		req, err := p.Shape(context.Background(), in, &signing.Keyring{Subscription: secret})
		if err != nil {
			t.Fatal(err)
		}
		return req
	},
}

// load builds the module and passes it through the same validation an upload gets.
func load(t *testing.T) *runtime.Plugin {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t), PoolSize: 1, CallTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := custom.Validate(context.Background(), rt, runtimetest.Build(t, "wasm"), "cloudevents", runtime.Sandboxed, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func render(req *sdk.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s\n", req.Method, req.URL, req.Path)
	for _, h := range req.Headers {
		fmt.Fprintf(&b, "%s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintf(&b, "\n%s\n", req.Body)
	return b.String()
}

func TestBinaryModeRequest(t *testing.T) {
	t.Parallel()
	for name, shape := range shapers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := shape(t, input(nil))
			got := render(req)
			golden := filepath.Join("testdata", "request.golden")
			if *update && name == "native" {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("request differs from %s:\n%s", golden, got)
			}
			// The signature, checked with the standard library's HMAC, not the project's signing.
			h := map[string]string{}
			for _, kv := range req.Headers {
				h[kv.Name] = kv.Value
			}
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(h["ce-id"] + "." + h["ce-time"] + "." + string(req.Body)))
			if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); h["ce-signature"] != want {
				t.Errorf("ce-signature %q, want %q", h["ce-signature"], want)
			}
		})
	}
}

func TestOptionsAndUnsignedSubscriptions(t *testing.T) {
	t.Parallel()
	in := input(map[string]string{"type_prefix": "io.acme.billing.", "source": "https://acme.example/"})
	in.Subscription.HasSecret = false
	req, err := sdktest.Shape(&cloudevents.Plugin, &sdktest.Host{}, in)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, kv := range req.Headers {
		h[kv.Name] = kv.Value
	}
	if h["ce-type"] != "io.acme.billing.invoice.update" || h["ce-source"] != "https://acme.example/accounts/acc_1" {
		t.Errorf("options not applied: %v", h)
	}
	if _, signed := h["ce-signature"]; signed {
		t.Error("a subscription without a secret got a signature")
	}
}
