package salesking_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/receivers"
	"github.com/switchyard/switchyard/plugins/salesking"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// shaper runs the plugin one way: natively, or through the real compiled module and the host's sign.
type shaper func(t *testing.T, in *sdk.Input, keys signing.Keyring, now time.Time) (*sdk.Request, error)

func native(t *testing.T, in *sdk.Input, keys signing.Keyring, now time.Time) (*sdk.Request, error) {
	t.Helper()
	return sdktest.Shape(&salesking.Plugin, &sdktest.Host{Keys: keys, Clock: func() time.Time { return now }}, in)
}

func wasm(t *testing.T, in *sdk.Input, keys signing.Keyring, now time.Time) (*sdk.Request, error) {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := rt.Load(context.Background(), runtimetest.Builtin(t, salesking.Name), runtime.Trusted)
	if err != nil {
		t.Fatal(err)
	}
	return p.Shape(context.Background(), in, &keys)
}

var both = map[string]shaper{"native": native, "wasm": wasm}

func mustShape(t *testing.T, shape shaper, in *sdk.Input, keys signing.Keyring, now time.Time) *sdk.Request {
	t.Helper()
	req, err := shape(t, in, keys, now)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func input(eventType, data string) *sdk.Input {
	return &sdk.Input{
		Event: sdk.Event{
			ID: "evt_1", Type: eventType, AccountID: "acc_acme",
			Entity:     sdk.Entity{Type: strings.Split(eventType, ".")[0], ID: "42"},
			OccurredAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
			Data:       []byte(data),
		},
		Subscription: sdk.Subscription{ID: "sub_1", AccountID: "acc_acme", AppID: "app_1", Format: salesking.Name, URL: "https://app.example.com/hooks"},
		App:          sdk.App{ID: "app_1", Name: "App", URL: "https://app.example.com"},
		Delivery:     sdk.Delivery{ID: "dlv_1", Attempt: 1, Kind: sdk.KindEvent},
	}
}

// signedRequest returns the signed_request field of a shaped request, checking the form around it.
func signedRequest(t *testing.T, req *sdk.Request) string {
	t.Helper()
	if len(req.Headers) != 1 || req.Method != "POST" || req.Headers[0] != (sdk.Header{Name: "content-type", Value: "application/x-www-form-urlencoded"}) {
		t.Fatalf("request %s with headers %v", req.Method, req.Headers)
	}
	form, err := url.ParseQuery(string(req.Body))
	if err != nil || len(form) != 1 || len(form["signed_request"]) != 1 {
		t.Fatalf("body %q is not one signed_request field (%v)", req.Body, err)
	}
	return form.Get("signed_request")
}

// TestSDKTestVector: SalesKing's signed_param of '{"key":"value"}' with the secret 'secret', through
// the plugin's signing path (envelope=false signs the data as it is), natively and through the
// compiled module with the host's sign.
func TestSDKTestVector(t *testing.T) {
	t.Parallel()
	const want = "60673142fdda45f3185cbd51c070596950a9178e20f785703723ad8e0ff04833.eyJrZXkiOiJ2YWx1ZSJ9"
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := input("client.create", `{"key":"value"}`)
			in.Subscription.Options = map[string]string{"envelope": "false"}
			req := mustShape(t, shape, in, signing.Keyring{App: "secret"}, time.Now())
			if got := signedRequest(t, req); got != want {
				t.Errorf("signed_request %s, want the SDK's %s", got, want)
			}
			if string(req.Body) != "signed_request="+want {
				t.Errorf("body %q", req.Body)
			}
		})
	}
}

// TestSignsWithTheAppSecretOnly: the subscription's secret is not the key; without an app secret
// there is nothing to sign with.
func TestSignsWithTheAppSecretOnly(t *testing.T) {
	t.Parallel()
	in := input("client.create", `{"key":"value"}`)
	in.Subscription.Options = map[string]string{"envelope": "false"}
	req := mustShape(t, native, in, signing.Keyring{App: "secret", Subscription: "not this one"}, time.Now())
	if !strings.HasPrefix(signedRequest(t, req), "60673142") {
		t.Errorf("signed with another key: %s", req.Body)
	}
	_, err := native(t, in, signing.Keyring{Subscription: "whsec_abc"}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "app has no secret") {
		t.Errorf("err %v", err)
	}
}

// TestPayload decodes the envelope (base64url by hand: the standard library's decoder, not the
// plugin's code) and checks every field the package documents.
func TestPayload(t *testing.T) {
	t.Parallel()
	now := time.Unix(1795000000, 0)
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := input("invoice.delete", `{"id":"inv_9","number":"R-2026-001","title":"Hosting ✓"}`)
			in.Event.User = &sdk.User{ID: "usr_7", Name: "Jens"}
			in.State = json.RawMessage(`{"sub_domain":"acme"}`)
			sr := signedRequest(t, mustShape(t, shape, in, signing.Keyring{App: "app secret"}, now))
			sig, payload, ok := strings.Cut(sr, ".")
			if !ok || len(sig) != 64 || strings.ToLower(sig) != sig {
				t.Fatalf("signature %q", sig)
			}
			raw, err := base64.RawURLEncoding.DecodeString(payload)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"algorithm":"HMAC-SHA256","issued_at":1795000000,"channel":"invoice.delete","company_id":"acc_acme",` +
				`"sub_domain":"acme","user_id":"usr_7","sub_id":"sub_1","delivery_id":"dlv_1",` +
				`"invoice":{"id":"inv_9","number":"R-2026-001","title":"Hosting ✓"}}`
			if string(raw) != want {
				t.Errorf("payload\n%s\nwant\n%s", raw, want)
			}
		})
	}
}

// TestPayloadLeavesOutWhatIsUnknown: no sub-domain recorded, no user named.
func TestPayloadLeavesOutWhatIsUnknown(t *testing.T) {
	t.Parallel()
	req := mustShape(t, native, input("client.update", `{"id":"42"}`), signing.Keyring{App: "s"}, time.Unix(1, 0))
	_, payload, _ := strings.Cut(signedRequest(t, req), ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sub_domain", "user_id"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s present though unknown: %s", k, raw)
		}
	}
	if m["algorithm"] != "HMAC-SHA256" || m["channel"] != "client.update" || m["client"] == nil {
		t.Errorf("payload %s", raw)
	}
}

// TestURLSafeAlphabetWithoutPadding uses data whose standard base64 has '+', '/' and padding, and
// checks that the payload has none of them, nor a newline, however long it is.
func TestURLSafeAlphabetWithoutPadding(t *testing.T) {
	t.Parallel()
	in := input("product.update", `{"name":"?>?>~~~ ÿÿ `+strings.Repeat("long ", 40)+`"}`)
	in.Subscription.Options = map[string]string{"envelope": "false"}
	std := base64.StdEncoding.EncodeToString(in.Event.Data)
	if !strings.ContainsAny(std, "+/") || !strings.HasSuffix(std, "=") {
		t.Fatalf("the test data must exercise '+', '/' and '=' (standard: %s)", std)
	}
	req := mustShape(t, wasm, in, signing.Keyring{App: "s"}, time.Now())
	sr := signedRequest(t, req)
	_, payload, _ := strings.Cut(sr, ".")
	if strings.ContainsAny(payload, "+/=\n\r") || !strings.ContainsAny(payload, "-_") {
		t.Errorf("payload %q is not unpadded base64url", payload)
	}
	if strings.ContainsAny(string(req.Body), "\n\r") {
		t.Errorf("body has a newline")
	}
}

// TestValidatedByAnIndependentSignedRequest has a Node.js implementation of the SDK's decode and
// valid? steps check what the compiled module shaped, and fail it with another secret.
func TestValidatedByAnIndependentSignedRequest(t *testing.T) {
	t.Parallel()
	in := input("client.create", `{"id":"42","organisation":"Müller & Söhne ✓","tags":["a+b","c/d"]}`)
	in.Event.User = &sdk.User{ID: "usr_1"}
	sr := signedRequest(t, mustShape(t, wasm, in, signing.Keyring{App: "app-secret-123"}, time.Now()))
	out, err := receivers.Run(t, "salesking.js", "verify", "--secret", "app-secret-123", sr)
	if err != nil {
		t.Fatalf("not valid: %v", err)
	}
	var got struct {
		Valid, Canonical bool
		Data             map[string]any
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	client, _ := got.Data["client"].(map[string]any)
	if !got.Valid || !got.Canonical || got.Data["channel"] != "client.create" || got.Data["user_id"] != "usr_1" ||
		got.Data["company_id"] != "acc_acme" || client["organisation"] != "Müller & Söhne ✓" {
		t.Errorf("decoded %s", out)
	}
	if _, err := receivers.Run(t, "salesking.js", "verify", "--secret", "another secret", sr); err == nil {
		t.Error("valid with the wrong secret: the check proves nothing")
	}
}

// TestGoldenRequest pins every byte of one shaped request, and checks the pinned signature with
// openssl and the pinned request against SalesKing's document.
func TestGoldenRequest(t *testing.T) {
	t.Parallel()
	in := input("client.create", `{"id":"42","organisation":"Acme GmbH"}`)
	in.Event.User = &sdk.User{ID: "usr_7"}
	in.State = json.RawMessage(`{"sub_domain":"acme"}`)
	req := mustShape(t, wasm, in, signing.Keyring{App: "golden app secret"}, time.Unix(1795000000, 0))
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
	verifyGolden(t, golden, "golden app secret")
}

// verifyGolden checks the golden file as it is on disk, so that -update cannot pin a wrong
// signature: the request is what SalesKing's document describes (a POST whose form body is one
// field, signed_request, a dot-delimited string with no newlines); openssl's HMAC-SHA256 of the
// payload part under the app secret, in hex, is the signature part; and the Node.js rendering of
// the SDK's valid? (examples/receivers/salesking.js) accepts it, in canonical form, and refuses it
// under another secret.
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
	body = strings.TrimSuffix(body, "\n")
	if head != "POST\ncontent-type: application/x-www-form-urlencoded" {
		t.Errorf("%s: method and headers %q", golden, head)
	}
	form, err := url.ParseQuery(body)
	if err != nil || len(form) != 1 || len(form["signed_request"]) != 1 || strings.ContainsAny(body, "\r\n") {
		t.Fatalf("%s: body %q is not one signed_request field on one line (%v)", golden, body, err)
	}
	sr := form.Get("signed_request")
	sign, payload, ok := strings.Cut(sr, ".")
	if !ok {
		t.Fatalf("%s: signed_request %q has no dot", golden, sr)
	}
	if got := opensslHMAC(t, secret, payload); sign != got {
		t.Errorf("%s: signature %s, openssl's HMAC-SHA256 of the payload is %s", golden, sign, got)
	}
	out, err := receivers.Run(t, "salesking.js", "verify", "--secret", secret, sr)
	if err != nil || !strings.Contains(out, `"canonical":true`) {
		t.Errorf("%s: salesking.js: %s %v", golden, out, err)
	}
	if _, err := receivers.Run(t, "salesking.js", "verify", "--secret", "another secret", sr); err == nil {
		t.Errorf("%s: valid under another secret: the check proves nothing", golden)
	}
}

// opensslHMAC is `openssl dgst -sha256 -hmac KEY` of msg, in lowercase hex.
func opensslHMAC(t *testing.T, key, msg string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed to check the golden signature independently: %v", err)
	}
	cmd := exec.Command("openssl", "dgst", "-sha256", "-hmac", key, "-r")
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl dgst: %v: %s", err, out)
	}
	hexSig, _, _ := strings.Cut(string(out), " ")
	return hexSig
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data, envelope, state, want string
	}{
		{"raw data that is an array", `[1,2]`, "false", "", "must be a JSON object"},
		{"raw data that is a string", `"x"`, "false", "", "must be a JSON object"},
		{"state with a sub-domain that is not a string", `{}`, "", `{"sub_domain":5}`, "delivery state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input("client.create", tc.data)
			if tc.envelope != "" {
				in.Subscription.Options = map[string]string{"envelope": tc.envelope}
			}
			if tc.state != "" {
				in.State = json.RawMessage(tc.state)
			}
			_, err := native(t, in, signing.Keyring{App: "s"}, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestManifestChannels: every object has its three channels, named as their canonical types, with
// the plural its scope uses; the compiled module's manifest says the same.
func TestManifestChannels(t *testing.T) {
	t.Parallel()
	m := salesking.Plugin.CompleteManifest()
	if len(m.Events) != 3*len(salesking.Objects) {
		t.Fatalf("%d channels for %d objects", len(m.Events), len(salesking.Objects))
	}
	byName := map[string]sdk.EventType{}
	for _, e := range m.Events {
		if e.Name != e.Type {
			t.Errorf("channel %q for type %q", e.Name, e.Type)
		}
		byName[e.Name] = e
	}
	for _, want := range []sdk.EventType{
		{Type: "client.create", Name: "client.create", Group: "clients"},
		{Type: "invoice.delete", Name: "invoice.delete", Group: "invoices"},
		{Type: "comment.create", Name: "comment.create", Group: "comments"},
		{Type: "credit_note.update", Name: "credit_note.update", Group: "credit_notes"},
		{Type: "recurring.delete", Name: "recurring.delete", Group: "recurrings"},
	} {
		if byName[want.Name] != want {
			t.Errorf("%s: %+v, want %+v", want.Name, byName[want.Name], want)
		}
	}
	for _, o := range []string{"contact", "product", "estimate", "order", "payment", "document"} {
		for _, a := range salesking.Actions {
			if _, ok := byName[o+"."+a]; !ok {
				t.Errorf("no channel %s.%s", o, a)
			}
		}
	}
	if err := runtime.ValidateManifest(&m); err != nil {
		t.Error(err)
	}
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.Load(context.Background(), runtimetest.Builtin(t, salesking.Name), runtime.Trusted)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(p.Manifest().Events)
	want, _ := json.Marshal(m.Events)
	if string(got) != string(want) {
		t.Errorf("the compiled module's channels differ:\n%s\n%s", got, want)
	}
}

// BenchmarkShape measures one 1 KB notification natively (through the ABI's encoding) and through
// the compiled module in both modes; compare with runtime's BenchmarkStandardShape.
func BenchmarkShape(b *testing.B) {
	var data strings.Builder
	data.WriteString(`{"id":"c1","organisation":"Müller & Söhne","addresses":[`)
	for i := 0; data.Len() < 1000; i++ {
		if i > 0 {
			data.WriteByte(',')
		}
		data.WriteString(`{"city":"Köln","zip":"50667","address1":"Hohe Straße 1"}`)
	}
	data.WriteString(`]}`)
	in := input("client.create", data.String())
	in.State = json.RawMessage(`{"sub_domain":"acme"}`)
	keys := signing.Keyring{App: "0123456789abcdef0123456789abcdef"}
	b.Run("native", func(b *testing.B) {
		host := &sdktest.Host{Keys: keys}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdktest.Shape(&salesking.Plugin, host, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []runtime.Mode{runtime.Trusted, runtime.Sandboxed} {
		b.Run("wasm-"+mode.String(), func(b *testing.B) {
			rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(b), PoolSize: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close(context.Background())
			p, err := rt.Load(context.Background(), runtimetest.Builtin(b, salesking.Name), mode)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Shape(context.Background(), in, &keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
