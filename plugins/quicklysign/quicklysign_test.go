package quicklysign_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/receivers"
	"github.com/switchyard/switchyard/plugins/quicklysign"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// runner runs the plugin one way: natively, or through the real compiled module.
type runner interface {
	shape(t *testing.T, in *sdk.Input) (*sdk.Request, error)
	respond(t *testing.T, in *sdk.Input) *sdk.Verdict
	manifest(t *testing.T) sdk.Manifest
}

type native struct{}

func (native) host() *sdktest.Host { return &sdktest.Host{Clock: func() time.Time { return now }} }

func (n native) shape(t *testing.T, in *sdk.Input) (*sdk.Request, error) {
	return sdktest.Shape(&quicklysign.Plugin, n.host(), in)
}

func (n native) respond(t *testing.T, in *sdk.Input) *sdk.Verdict {
	t.Helper()
	v, err := sdktest.OnResponse(&quicklysign.Plugin, n.host(), in)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (native) manifest(*testing.T) sdk.Manifest { return quicklysign.Plugin.Manifest }

type compiled struct{}

var (
	loadOnce sync.Once
	loaded   *runtime.Plugin
	loadErr  error
)

// plugin loads the compiled module once for the package's tests, trusted, as the server loads it.
func (compiled) plugin(t testing.TB) *runtime.Plugin {
	t.Helper()
	wasm := runtimetest.Builtin(t, quicklysign.Name)
	loadOnce.Do(func() {
		var rt *runtime.Runtime
		rt, loadErr = runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t), Clock: func() time.Time { return now }})
		if loadErr == nil {
			loaded, loadErr = rt.Load(context.Background(), wasm, runtime.Trusted)
		}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func (c compiled) shape(t *testing.T, in *sdk.Input) (*sdk.Request, error) {
	return c.plugin(t).Shape(context.Background(), in, &signing.Keyring{})
}

func (c compiled) respond(t *testing.T, in *sdk.Input) *sdk.Verdict {
	t.Helper()
	v, err := c.plugin(t).OnResponse(context.Background(), in, &signing.Keyring{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (c compiled) manifest(t *testing.T) sdk.Manifest { return c.plugin(t).Manifest() }

var both = map[string]runner{"native": native{}, "wasm": compiled{}}

func input(eventType, api string) *sdk.Input {
	in := &sdk.Input{
		Event: sdk.Event{
			ID: "evt_1", Type: eventType, AccountID: "acc_1",
			Entity:     sdk.Entity{Type: "document", ID: "ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgMDvCww"},
			OccurredAt: now, Data: []byte(`{"status":"signed"}`),
		},
		Subscription: sdk.Subscription{ID: "sub_01kqsign", Format: quicklysign.Name, URL: "https://receiver.example/v0/test_callback",
			EntityKey: "ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgMDvCww"},
		Delivery: sdk.Delivery{ID: "dlv_01kqgolden", Attempt: 1, Kind: sdk.KindEvent},
	}
	if api != "" {
		in.Subscription.Options = map[string]string{quicklysign.OptionAPI: api}
	}
	return in
}

func header(req *sdk.Request, name string) string {
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// TestCallbackBody: each canonical document event becomes the callback the document describes,
// keyed subscription_key for v0 subscriptions and webhook_key for v1 webhooks.
func TestCallbackBody(t *testing.T) {
	t.Parallel()
	for name, r := range both {
		t.Run(name, func(t *testing.T) {
			for _, tt := range []struct {
				event, api, key, callbackEvent string
			}{
				{"document.update", "", "subscription_key", "entity_updated"},
				{"document.status_change", "v0", "subscription_key", "document_status_changed"},
				{"document.finalize", "v0", "subscription_key", "final_document_generated"},
				{"document.update", "v1", "webhook_key", "entity_updated"},
				{"document.finalize", "v1", "webhook_key", "final_document_generated"},
			} {
				req, err := r.shape(t, input(tt.event, tt.api))
				if err != nil {
					t.Fatalf("%s: %v", tt.event, err)
				}
				want := `{"` + tt.key + `":"sub_01kqsign","entity_key":"ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgMDvCww","entity_type":"Document","callback_event":"` + tt.callbackEvent + `"}`
				if string(req.Body) != want {
					t.Errorf("%s (api %q) body\n %s\nwant\n %s", tt.event, tt.api, req.Body, want)
				}
				if req.Method != "POST" || req.URL != "" || req.Path != "" || header(req, "Content-Type") != "application/json" {
					t.Errorf("%s: request %s %q %q, content-type %q", tt.event, req.Method, req.URL, req.Path, header(req, "Content-Type"))
				}
				if header(req, "X-Switchyard-Delivery-Id") != "dlv_01kqgolden" {
					t.Errorf("%s: delivery id header %q", tt.event, header(req, "X-Switchyard-Delivery-Id"))
				}
			}
		})
	}
}

// TestKeysAreEscaped: keys are the publisher's and the subscriber's strings; whatever they hold,
// the body stays JSON that says exactly them.
func TestKeysAreEscaped(t *testing.T) {
	t.Parallel()
	for name, r := range both {
		t.Run(name, func(t *testing.T) {
			in := input("document.update", "v0")
			in.Event.Entity.ID = "doc \"7\"\\\n✓<>&"
			req, err := r.shape(t, in)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			if err := json.Unmarshal(req.Body, &body); err != nil || body["entity_key"] != in.Event.Entity.ID {
				t.Errorf("body %s (%v): entity_key %q", req.Body, err, body["entity_key"])
			}
		})
	}
}

func TestRefusesEventsItHasNoNameFor(t *testing.T) {
	t.Parallel()
	for name, r := range both {
		t.Run(name, func(t *testing.T) {
			_, err := r.shape(t, input("document.delete", ""))
			if err == nil || !strings.Contains(err.Error(), `no callback event for "document.delete"`) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// TestOnlyTwoHundredIsReceived: 200 succeeds; 201, 204 and every other answer are retried, 410
// included; a Retry-After sets the wait.
func TestOnlyTwoHundredIsReceived(t *testing.T) {
	t.Parallel()
	for name, r := range both {
		t.Run(name, func(t *testing.T) {
			for _, tt := range []struct {
				status     int
				retryAfter string
				outcome    string
				wait       time.Duration
			}{
				{200, "", sdk.OutcomeSuccess, 0},
				{201, "", sdk.OutcomeRetry, 0},
				{202, "", sdk.OutcomeRetry, 0},
				{204, "", sdk.OutcomeRetry, 0},
				{301, "", sdk.OutcomeRetry, 0},
				{404, "", sdk.OutcomeRetry, 0},
				{410, "", sdk.OutcomeRetry, 0},
				{429, "120", sdk.OutcomeRetry, 2 * time.Minute},
				{503, now.Add(90 * time.Second).Format(http.TimeFormat), sdk.OutcomeRetry, 90 * time.Second},
				{503, "soon", sdk.OutcomeRetry, 0},
				{200, "120", sdk.OutcomeSuccess, 0},
			} {
				in := input("document.update", "")
				in.Response = &sdk.Response{Status: tt.status, Body: []byte("thanks")}
				if tt.retryAfter != "" {
					in.Response.Headers = []sdk.Header{{Name: "retry-after", Value: tt.retryAfter}}
				}
				v := r.respond(t, in)
				if v.Outcome != tt.outcome || v.RetryAfter != tt.wait {
					t.Errorf("%d (Retry-After %q): %s after %v; want %s after %v", tt.status, tt.retryAfter, v.Outcome, v.RetryAfter, tt.outcome, tt.wait)
				}
				if tt.outcome == sdk.OutcomeRetry && !strings.Contains(v.Message, "answered "+strconv.Itoa(tt.status)+"; ") {
					t.Errorf("%d: message %q", tt.status, v.Message)
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"99999999999999999999", 0},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{"Monday, 23-Nov-26 10:05:00 GMT", 5 * time.Minute},
		{"Mon Nov 23 11:00:00 2026", time.Hour},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"tomorrow", 0},
	} {
		if got := quicklysign.RetryAfter(tt.value, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v; want %v", tt.value, got, tt.want)
		}
	}
}

// TestManifest: the compiled module tells the host the vocabulary, the hook and the option.
func TestManifest(t *testing.T) {
	t.Parallel()
	for name, r := range both {
		t.Run(name, func(t *testing.T) {
			m := r.manifest(t)
			want := []sdk.EventType{
				{Type: "document.update", Name: "entity_updated", Group: "Document"},
				{Type: "document.status_change", Name: "document_status_changed", Group: "Document"},
				{Type: "document.finalize", Name: "final_document_generated", Group: "Document"},
			}
			if m.Name != "quicklysign" || !reflect.DeepEqual(m.Events, want) {
				t.Errorf("manifest %s events %+v", m.Name, m.Events)
			}
			if len(m.Options) != 1 || m.Options[0].Name != "api" || !reflect.DeepEqual(m.Options[0].Values, []string{"v0", "v1"}) {
				t.Errorf("options %+v", m.Options)
			}
			if name == "wasm" && !reflect.DeepEqual(m.Hooks, []string{sdk.HookOnResponse}) {
				t.Errorf("hooks %v; want on_response only", m.Hooks)
			}
		})
	}
}

// TestCheckedByAnIndependentReceiver has a receiver written from QuicklySign's description alone
// (examples/receivers/quicklysign.js) accept what the compiled plugin shapes, and refuse a body
// that strays from it.
func TestCheckedByAnIndependentReceiver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	save := func(name string, req *sdk.Request, body string) string {
		headers := map[string]string{}
		for _, h := range req.Headers {
			headers[h.Name] = h.Value
		}
		raw, _ := json.Marshal(map[string]any{"method": req.Method, "headers": headers, "body": body})
		file := filepath.Join(dir, name+".json")
		if err := os.WriteFile(file, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	var last *sdk.Request
	for _, tt := range []struct{ event, api string }{{"document.update", "v0"}, {"document.status_change", "v1"}, {"document.finalize", ""}} {
		req, err := compiled{}.shape(t, input(tt.event, tt.api))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, save(tt.event, req, string(req.Body)))
		last = req
	}
	out, err := receivers.Run(t, "quicklysign.js", append([]string{"check"}, files...)...)
	if err != nil {
		t.Fatalf("the independent receiver refused a callback: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], `"webhook_key":"sub_01kqsign"`) || !strings.Contains(lines[2], `"callback_event":"final_document_generated"`) {
		t.Errorf("receiver read:\n%s", out)
	}
	stray := save("stray", last, strings.Replace(string(last.Body), `"entity_type":"Document",`, `"entity_type":"Document","data":{},`, 1))
	if _, err := receivers.Run(t, "quicklysign.js", "check", stray); err == nil {
		t.Error("the receiver accepted a body with an extra key: its check proves nothing")
	}
}

// TestGoldenCallback pins every byte of one callback the compiled plugin shapes, and has the
// receiver written from QuicklySign's description accept the pinned one.
func TestGoldenCallback(t *testing.T) {
	t.Parallel()
	req, err := compiled{}.shape(t, input("document.status_change", "v0"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(req.Method + "\n")
	for _, h := range req.Headers {
		b.WriteString(h.Name + ": " + h.Value + "\n")
	}
	b.WriteString("\n" + string(req.Body) + "\n")
	golden := filepath.Join("testdata", "callback.golden")
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
		t.Errorf("shaped callback changed:\n%s\nwant:\n%s", b.String(), want)
	}
	verifyGolden(t, golden)
}

// verifyGolden checks the golden file as it is on disk, so that -update cannot pin a callback
// QuicklySign's description does not allow: the receiver written from that description alone
// (examples/receivers/quicklysign.js: a JSON POST whose body is exactly subscription_key,
// entity_key, entity_type and callback_event, the event one of the three constants) must accept it.
// QuicklySign signs nothing, so there is no signature to verify.
func verifyGolden(t *testing.T, golden string) {
	t.Helper()
	text, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(text), "\n\n")
	if !ok || !strings.HasSuffix(body, "\n") {
		t.Fatalf("%s: no blank line before the body, or no newline after it", golden)
	}
	lines := strings.Split(head, "\n")
	headers := map[string]string{}
	for _, line := range lines[1:] {
		k, v, _ := strings.Cut(line, ": ")
		headers[k] = v
	}
	raw, _ := json.Marshal(map[string]any{"method": lines[0], "headers": headers, "body": strings.TrimSuffix(body, "\n")})
	file := filepath.Join(t.TempDir(), "callback.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := receivers.Run(t, "quicklysign.js", "check", file); err != nil {
		t.Errorf("the receiver written from QuicklySign's description refuses %s: %v", golden, err)
	}
}
