package standard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/receivers"
	"github.com/switchyard/switchyard/plugins/standard"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// shaper runs the plugin one way: natively, or through the real compiled module.
type shaper func(t *testing.T, in *sdk.Input, keys signing.Keyring, now time.Time) *sdk.Request

func native(t *testing.T, in *sdk.Input, keys signing.Keyring, now time.Time) *sdk.Request {
	t.Helper()
	req, err := sdktest.Shape(&standard.Plugin, &sdktest.Host{Keys: keys, Clock: func() time.Time { return now }}, in)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func wasm(t *testing.T, in *sdk.Input, keys signing.Keyring, now time.Time) *sdk.Request {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := rt.Load(context.Background(), runtimetest.Builtin(t, "standard"), runtime.Trusted)
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.Shape(context.Background(), in, &keys)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

var both = map[string]shaper{"native": native, "wasm": wasm}

func input(id string, data string) *sdk.Input {
	return &sdk.Input{
		Event: sdk.Event{
			ID: "evt_1", Type: "client.create", AccountID: "acc_1",
			Entity:     sdk.Entity{Type: "client", ID: "42"},
			OccurredAt: time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC),
			Data:       []byte(data),
		},
		Subscription: sdk.Subscription{ID: "sub_1", Format: "standard", HasSecret: true},
		Delivery:     sdk.Delivery{ID: id, Attempt: 1, Kind: sdk.KindEvent},
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

// TestSpecTestVector reproduces the signature the Standard Webhooks reference libraries publish
// for their test vector, with the body sent as is (envelope=false).
func TestSpecTestVector(t *testing.T) {
	t.Parallel()
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			in := input("msg_p5jXN8AQM9LWM0D4loKWxJek", `{"test": 2432232314}`)
			in.Subscription.Options = map[string]string{"envelope": "false"}
			req := shape(t, in, signing.Keyring{Subscription: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, time.Unix(1614265330, 0))
			if got, want := header(req, "webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
				t.Errorf("signature %s, want the spec's %s", got, want)
			}
			if string(req.Body) != `{"test": 2432232314}` || header(req, "webhook-timestamp") != "1614265330" || header(req, "webhook-id") != "msg_p5jXN8AQM9LWM0D4loKWxJek" {
				t.Errorf("request %+v", req)
			}
		})
	}
}

// TestVerifiedByTheReferenceLibrary has the npm package standardwebhooks verify what the compiled
// plugin shaped, including during a secret rotation, when each secret alone must verify.
func TestVerifiedByTheReferenceLibrary(t *testing.T) {
	t.Parallel()
	current := "whsec_" + base64.StdEncoding.EncodeToString([]byte("current secret, 32 bytes long..."))
	previous := "whsec_" + base64.StdEncoding.EncodeToString([]byte("previous secret, 32 bytes long."))
	in := input("dlv_2yKQ8", `{"id":42,"name":"Acme ✓","tags":["a","b"]}`)
	req := wasm(t, in, signing.Keyring{Subscription: current, SubscriptionPrevious: previous}, time.Now())
	if n := len(strings.Fields(header(req, "webhook-signature"))); n != 2 {
		t.Fatalf("want two signatures during rotation, got %q", header(req, "webhook-signature"))
	}
	headers := map[string]string{}
	for _, h := range req.Headers {
		headers[h.Name] = h.Value
	}
	file := filepath.Join(t.TempDir(), "request.json")
	saved, _ := json.Marshal(map[string]any{"headers": headers, "body": string(req.Body)})
	if err := os.WriteFile(file, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{current, previous} {
		out, err := receivers.Run(t, "standard.js", "verify", "--secret", secret, file)
		if err != nil {
			t.Fatalf("standardwebhooks did not verify with %s: %v", secret[:12], err)
		}
		var payload struct {
			Type, Timestamp string
			Data            map[string]any
		}
		if err := json.Unmarshal([]byte(out), &payload); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if payload.Type != "client.create" || payload.Timestamp != "2026-11-23T10:00:00.123Z" || payload.Data["name"] != "Acme ✓" {
			t.Errorf("payload %+v", payload)
		}
	}
	if _, err := receivers.Run(t, "standard.js", "verify", "--secret", "whsec_"+base64.StdEncoding.EncodeToString([]byte("some other secret")), file); err == nil {
		t.Error("the reference library verified with the wrong secret: the check proves nothing")
	}
}

// TestGoldenRequest pins every byte of one shaped request, and has the reference library verify
// the pinned signature.
func TestGoldenRequest(t *testing.T) {
	t.Parallel()
	req := wasm(t, input("dlv_golden", `{"id":42,"name":"Acme"}`), signing.Keyring{Subscription: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, time.Unix(1795000000, 0))
	var b strings.Builder
	b.WriteString(req.Method + "\n")
	for _, h := range req.Headers {
		b.WriteString(h.Name + ": " + h.Value + "\n")
	}
	b.WriteString("\n" + string(req.Body) + "\n")
	golden := filepath.Join("testdata", "request.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("shaped request changed:\n%s\nwant:\n%s", b.String(), want)
	}
	verifyGolden(t, golden, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
}

// verifyGolden has the reference library, the npm package standardwebhooks, verify the golden file
// as it is on disk, with its clock set to the file's webhook-timestamp, so that -update cannot pin
// a signature the library would refuse; and has it refuse the file under another secret.
func verifyGolden(t *testing.T, golden, secret string) {
	t.Helper()
	text, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(text), "\n\n")
	if !ok || !strings.HasSuffix(body, "\n") {
		t.Fatalf("%s: no blank line before the body, or no newline after it", golden)
	}
	headers := map[string]string{}
	for _, line := range strings.Split(head, "\n")[1:] {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: header line %q", golden, line)
		}
		headers[name] = value
	}
	file := filepath.Join(t.TempDir(), "golden.json")
	saved, _ := json.Marshal(map[string]any{"headers": headers, "body": strings.TrimSuffix(body, "\n")})
	if err := os.WriteFile(file, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	now := headers["webhook-timestamp"]
	if _, err := receivers.Run(t, "standard.js", "verify", "--secret", secret, "--now", now, file); err != nil {
		t.Errorf("standardwebhooks does not verify %s: %v", golden, err)
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("some other secret"))
	if _, err := receivers.Run(t, "standard.js", "verify", "--secret", other, "--now", now, file); err == nil {
		t.Errorf("standardwebhooks verified %s under another secret: the check proves nothing", golden)
	}
}

func TestRefusesASubscriptionWithoutSecret(t *testing.T) {
	t.Parallel()
	in := input("dlv_1", `{}`)
	in.Subscription.HasSecret = false
	_, err := sdktest.Shape(&standard.Plugin, &sdktest.Host{}, in)
	if err == nil || !strings.Contains(err.Error(), "needs a signing secret") {
		t.Fatalf("err %v", err)
	}
}
