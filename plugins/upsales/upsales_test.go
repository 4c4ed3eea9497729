package upsales_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/receivers"
	"github.com/switchyard/switchyard/plugins/upsales"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// appKey is the app's shared key in these tests; it reaches the request only through the host.
const appKey = `app-key-"quoted"-0123456789`

var keys = signing.Keyring{App: appKey}

// sentAt is the host's clock in these tests: when a request is sent, which is its date. Events
// occurred earlier (occurredAt), so that a date taken from the event shows.
var (
	sentAt     = time.Date(2026, 11, 23, 10, 0, 30, 456e6, time.UTC)
	occurredAt = time.Date(2020, 2, 3, 4, 5, 6, 123e6, time.UTC)
)

func clock() time.Time { return sentAt }

// plugin runs the plugin one way: natively, or through the real compiled module.
type plugin interface {
	shape(t *testing.T, in *sdk.Input) *sdk.Request
	onResponse(t *testing.T, in *sdk.Input) *sdk.Verdict
}

type native struct{}

func (native) shape(t *testing.T, in *sdk.Input) *sdk.Request {
	t.Helper()
	req, err := sdktest.Shape(&upsales.Plugin, &sdktest.Host{Keys: keys, Clock: clock}, in)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (native) onResponse(t *testing.T, in *sdk.Input) *sdk.Verdict {
	t.Helper()
	v, err := sdktest.OnResponse(&upsales.Plugin, &sdktest.Host{Keys: keys, Clock: clock}, in)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type compiled struct{ p *runtime.Plugin }

var (
	wasmOnce sync.Once
	wasmP    *runtime.Plugin
	wasmErr  error
)

func wasm(t *testing.T) compiled {
	t.Helper()
	module := runtimetest.Builtin(t, "upsales")
	wasmOnce.Do(func() {
		var rt *runtime.Runtime
		rt, wasmErr = runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t), Clock: clock})
		if wasmErr == nil {
			wasmP, wasmErr = rt.Load(context.Background(), module, runtime.Trusted)
		}
	})
	if wasmErr != nil {
		t.Fatal(wasmErr)
	}
	return compiled{wasmP}
}

func (c compiled) shape(t *testing.T, in *sdk.Input) *sdk.Request {
	t.Helper()
	req, err := c.p.Shape(context.Background(), in, &keys)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (c compiled) onResponse(t *testing.T, in *sdk.Input) *sdk.Verdict {
	t.Helper()
	v, err := c.p.OnResponse(context.Background(), in, &keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func both(t *testing.T) map[string]plugin {
	return map[string]plugin{"native": native{}, "wasm": wasm(t)}
}

// sent is the request as the app receives it: the host has written the app's key in.
func sent(t *testing.T, req *sdk.Request) *sdk.Request {
	t.Helper()
	send, _, err := keys.FillSecrets(req)
	if err != nil {
		t.Fatal(err)
	}
	return send
}

func input(eventType, entityID, data string) *sdk.Input {
	return &sdk.Input{
		Event: sdk.Event{
			ID: "evt_1", Type: eventType, AccountID: "acc_01golden",
			Entity:     sdk.Entity{Type: strings.Split(eventType, ".")[0], ID: entityID},
			OccurredAt: occurredAt,
			User:       &sdk.User{ID: "7", Name: "Ann Admin", Email: "ann@acme.example"},
			Data:       []byte(data),
		},
		Subscription: sdk.Subscription{ID: "sub_1", AccountID: "acc_01golden", AppID: "app_01golden", URL: "https://app.example.com/upsales", Format: "upsales"},
		// The platform's numeric ids, as Upsales numbers its customers and apps.
		Account:  sdk.Account{ID: "acc_01golden", Name: "Acme AB", ExternalID: 1042},
		App:      sdk.App{ID: "app_01golden", Name: "Golden app", ExternalID: 12},
		Delivery: sdk.Delivery{ID: "dlv_golden", Attempt: 1, Kind: sdk.KindEvent, CallbackURL: "https://switchyard.example/hooks/upsales/callback/tok_golden"},
		State:    json.RawMessage(`{"appData":{"externalId":"abc123","sync":true}}`),
	}
}

// goldenCases are one trigger per object kind, each with an entity as Upsales shapes it; the
// activity's app is user-configurable.
var goldenCases = []struct {
	eventType, id, data string
}{
	{"client.create", "42", `{"id":42,"name":"Acme AB","phone":"+46 8 123 456","users":[{"id":7,"name":"Ann Admin"}],"custom":[{"fieldId":1,"value":"556677-8899"}]}`},
	{"contact.update", "7", `{"id":7,"name":"Bo Berg","email":"bo@acme.example","client":{"id":42,"name":"Acme AB"},"active":1}`},
	{"order.delete", "9", `{"id":9,"description":"Annual licence","value":400,"currency":"SEK","stage":{"id":1,"name":"Won"},"client":{"id":42}}`},
	{"agreement.create", "31", `{"id":31,"description":"Support","metadata":{"agreementStartdate":"2026-12-01","agreementIntervalPeriod":12},"value":12000}`},
	{"activity.update", "108", `{"id":108,"description":"Call about renewal","date":"2026-11-30","closeDate":null,"users":[{"id":7}]}`},
	{"appointment.delete", "5/2", `{"id":"5/2","description":"Demo","date":"2026-12-03T09:00:00.000Z","endDate":"2026-12-03T10:00:00.000Z"}`},
}

// TestGoldenRequests pins every byte of one trigger request per object kind, as the app receives
// it, checks that the native and compiled plugin agree, and has an app's check accept each golden.
func TestGoldenRequests(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases {
		t.Run(c.eventType, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, name := range []string{"native", "wasm"} {
				in := input(c.eventType, c.id, c.data)
				if c.eventType == "activity.update" {
					in.Subscription.Options = map[string]string{upsales.OptionUserConfigurable: "true"}
					in.State = json.RawMessage(`{"appData":{"externalId":"abc123"},"userAppData":{"calendar":"ann@cal"}}`)
				}
				req := sent(t, both(t)[name].shape(t, in))
				var b strings.Builder
				fmt.Fprintf(&b, "%s %s\n", req.Method, req.Path)
				for _, h := range req.Headers {
					fmt.Fprintf(&b, "%s: %s\n", h.Name, h.Value)
				}
				fmt.Fprintf(&b, "\n%s\n", req.Body)
				got = append(got, b.String())
			}
			if got[0] != got[1] {
				t.Fatalf("native and compiled plugin differ:\n%s\n%s", got[0], got[1])
			}
			golden := filepath.Join("testdata", c.eventType+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got[1]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got[1] != string(want) {
				t.Errorf("request changed:\n%s\nwant:\n%s", got[1], want)
			}
			verifyGolden(t, golden, c.eventType == "activity.update")
		})
	}
}

// verifyGolden checks a golden file as it is on disk, so that -update cannot pin a request an
// Upsales app would refuse. Upsales signs nothing and publishes no library for app requests, so
// the check is examples/receivers/upsales.js, our own Node.js code written from Upsales' document
// (path, content type, authenticationKey compared in constant time, the body's fields and types):
// it must accept the file and refuse it under another key. What Upsales' app callback document
// says of the body is checked on what it read: a callbackUrl, appData, and userAppData only for a
// user-configurable app.
func verifyGolden(t *testing.T, golden string, userConfigurable bool) {
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
	method, path, _ := strings.Cut(lines[0], " ")
	headers := map[string]string{}
	for _, line := range lines[1:] {
		k, v, _ := strings.Cut(line, ": ")
		headers[strings.ToLower(k)] = v
	}
	file := filepath.Join(t.TempDir(), "request.json")
	saved, _ := json.Marshal(map[string]any{"method": method, "path": path, "headers": headers, "body": strings.TrimSuffix(body, "\n")})
	if err := os.WriteFile(file, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	// Upsales' ids are numbers: the goldens' app and account carry numeric external ids.
	out, err := receivers.Run(t, "upsales.js", "verify", "--key", appKey, "--numeric-ids", "yes", file)
	if err != nil {
		t.Fatalf("%s: the app refuses it: %v", golden, err)
	}
	var read struct {
		CallbackURL string         `json:"callbackUrl"`
		AppData     map[string]any `json:"appData"`
		UserAppData map[string]any `json:"userAppData"`
		Date        string         `json:"date"`
		AppID       any            `json:"appId"`
		Customer    struct{ ID any }
	}
	if err := json.Unmarshal([]byte(out), &read); err != nil {
		t.Fatalf("%s: %s: %v", golden, out, err)
	}
	if !strings.HasPrefix(read.CallbackURL, "https://") || read.AppData == nil || (read.UserAppData != nil) != userConfigurable {
		t.Errorf("%s: the app read %s", golden, out)
	}
	// date is when the request was sent, not when the object changed.
	if read.Date != sentAt.Format("2006-01-02T15:04:05.000Z") || read.AppID != float64(12) || read.Customer.ID != float64(1042) {
		t.Errorf("%s: the app read date %s (sent %s, occurred %s), appId %#v, customer.id %#v", golden, read.Date, sentAt, occurredAt, read.AppID, read.Customer.ID)
	}
	if _, err := receivers.Run(t, "upsales.js", "verify", "--key", "another key", file); err == nil {
		t.Errorf("%s: the app accepts it under another key: the check proves nothing", golden)
	}
}

// TestAnUpsalesAppAcceptsIt has a check written in Node, as an app reads Upsales requests, accept
// every golden request and read back what went in.
func TestAnUpsalesAppAcceptsIt(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases {
		req := sent(t, wasm(t).shape(t, input(c.eventType, c.id, c.data)))
		out, err := receivers.Run(t, "upsales.js", "verify", "--key", appKey, saveRequest(t, req))
		if err != nil {
			t.Fatalf("%s: the app refused the request: %v", c.eventType, err)
		}
		var got struct {
			Object, Action, ID, CallbackURL, Date string
			Customer                              struct{ ID any }
			AppData                               map[string]any
			Entity                                json.RawMessage
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %s: %v", c.eventType, out, err)
		}
		object, action, _ := strings.Cut(c.eventType, ".")
		wantAction := map[string]string{"create": "insert", "update": "update", "delete": "delete"}[action]
		if got.Object != object || got.Action != wantAction || got.ID != c.id || got.Customer.ID != float64(1042) ||
			got.AppData["externalId"] != "abc123" || got.Date != "2026-11-23T10:00:30.456Z" || !strings.HasSuffix(got.CallbackURL, "tok_golden") {
			t.Errorf("%s: the app read %s", c.eventType, out)
		}
		var sentEntity, wantEntity any
		_ = json.Unmarshal(got.Entity, &sentEntity)
		_ = json.Unmarshal([]byte(c.data), &wantEntity)
		if fmt.Sprint(sentEntity) != fmt.Sprint(wantEntity) {
			t.Errorf("%s: entity %s, want %s", c.eventType, got.Entity, c.data)
		}
	}
	// The check proves something: a wrong key is refused.
	req := sent(t, wasm(t).shape(t, input("client.create", "1", `{}`)))
	if _, err := receivers.Run(t, "upsales.js", "verify", "--key", "another key", saveRequest(t, req)); err == nil {
		t.Error("the app accepted a request with the wrong key")
	}
}

func saveRequest(t *testing.T, req *sdk.Request) string {
	t.Helper()
	headers := map[string]string{}
	for _, h := range req.Headers {
		headers[strings.ToLower(h.Name)] = h.Value
	}
	file := filepath.Join(t.TempDir(), "request.json")
	b, _ := json.Marshal(map[string]any{"method": req.Method, "path": req.Path, "headers": headers, "body": string(req.Body)})
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func body(t *testing.T, req *sdk.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	return m
}

// TestTheKeyIsAPlaceholderUntilTheHostFillsIt: the plugin's own output holds no key.
func TestTheKeyIsAPlaceholderUntilTheHostFillsIt(t *testing.T) {
	t.Parallel()
	for name, p := range both(t) {
		req := p.shape(t, input("client.create", "42", `{"id":42}`))
		if strings.Contains(string(req.Body), "app-key") || len(req.Secrets) != 1 || req.Secrets[0].Key != sdk.KeyApp || req.Secrets[0].Encoding != sdk.SecretJSON {
			t.Errorf("%s: shaped %s with secrets %+v", name, req.Body, req.Secrets)
		}
		if got := body(t, sent(t, req))["authenticationKey"]; got != appKey {
			t.Errorf("%s: authenticationKey %v after filling", name, got)
		}
	}
}

func TestOptionalParts(t *testing.T) {
	t.Parallel()
	for name, p := range both(t) {
		t.Run(name, func(t *testing.T) {
			// Without a user, a saved state or a callback URL; with IDs that are not numbers.
			in := input("order.create", "ord 1", `{"id":"ord 1"}`)
			in.Event.User, in.State, in.Delivery.CallbackURL = nil, nil, ""
			// Without the platform's numeric ids: the account's id (a string here) and the app's.
			in.Account.ID, in.Account.ExternalID, in.App.ExternalID = "acc_01abc", 0, 0
			in.Subscription.Options = map[string]string{upsales.OptionUserConfigurable: "true"}
			req := p.shape(t, in)
			b := body(t, req)
			if req.Path != "/orderinsert/ord%201" {
				t.Errorf("path %q", req.Path)
			}
			for _, absent := range []string{"user", "userAppData", "callbackUrl"} {
				if _, ok := b[absent]; ok {
					t.Errorf("%s is present: %s", absent, req.Body)
				}
			}
			if fmt.Sprint(b["appData"]) != "map[]" || b["customer"].(map[string]any)["id"] != "acc_01abc" || b["appId"] != "app_01golden" {
				t.Errorf("appData %v, customer %v, appId %#v", b["appData"], b["customer"], b["appId"])
			}
			// An account whose own id is a decimal number, without an external id: that number.
			in.Account.ID = "2042"
			if c := body(t, p.shape(t, in))["customer"].(map[string]any); c["id"] != float64(2042) {
				t.Errorf("customer %v", c)
			}

			// A user-configurable app with a user gets userAppData, {} when nothing was saved.
			in = input("order.create", "1", `{}`)
			in.Subscription.Options = map[string]string{upsales.OptionUserConfigurable: "true"}
			b = body(t, p.shape(t, in))
			if fmt.Sprint(b["userAppData"]) != "map[]" || b["user"].(map[string]any)["id"] != float64(7) {
				t.Errorf("userAppData %v, user %v", b["userAppData"], b["user"])
			}
			in.State = json.RawMessage(`{"appData":{"a":1},"userAppData":{"mine":"yes"}}`)
			if b = body(t, p.shape(t, in)); fmt.Sprint(b["userAppData"]) != "map[mine:yes]" {
				t.Errorf("saved userAppData: %v", b["userAppData"])
			}
			// Not user-configurable: no userAppData, even if some was kept.
			in.Subscription.Options = nil
			if b = body(t, p.shape(t, in)); b["userAppData"] != nil {
				t.Errorf("userAppData sent to an app that is not user-configurable: %v", b["userAppData"])
			}
		})
	}
}

func TestRefusesWhatUpsalesCannotSay(t *testing.T) {
	t.Parallel()
	h := &sdktest.Host{Keys: keys, Clock: clock}
	if _, err := sdktest.Shape(&upsales.Plugin, h, input("invoice.create", "1", `{}`)); err == nil || !strings.Contains(err.Error(), "no trigger") {
		t.Errorf("invoice.create: %v", err)
	}
	in := input("client.create", "", `{}`)
	if _, err := sdktest.Shape(&upsales.Plugin, h, in); err == nil || !strings.Contains(err.Error(), "entity") {
		t.Errorf("no entity id: %v", err)
	}
}

func TestManifest(t *testing.T) {
	t.Parallel()
	m := upsales.Plugin.CompleteManifest()
	if m.DeliveryTimeoutMS != 30000 || m.MaxResponseBytes < upsales.MaxCallbackBytes*2 || len(m.Events) != 18 {
		t.Errorf("manifest %+v", m)
	}
	for _, c := range []struct{ typ, want string }{{"client.create", "clientinsert"}, {"appointment.delete", "appointmentdelete"}, {"agreement.update", "agreementupdate"}, {"invoice.create", ""}} {
		if got := upsales.Trigger(c.typ); got != c.want {
			t.Errorf("Trigger(%s) = %q, want %q", c.typ, got, c.want)
		}
	}
	if err := runtime.ValidateManifest(&m); err != nil {
		t.Error(err)
	}
}

// TestOnResponse: what each answer means, and the synchronous callback handed to the host.
func TestOnResponse(t *testing.T) {
	t.Parallel()
	big := `{"callback":{"message":"` + strings.Repeat("x", 150<<10) + `"}}`
	// Upsales: "your app callback object has to be less than 100kb": 102,400 bytes is refused,
	// one byte less applies. {"message":""} is 14 bytes around the text.
	sized := func(n int) string { return `{"message":"` + strings.Repeat("x", n-14) + `"}` }
	justUnder, exactly := sized(100<<10-1), sized(100<<10)
	// An answer cut off at the manifest's 256 kb limit, a callback in it.
	cut := (`{"callback":{"message":"` + strings.Repeat("x", 300<<10))[:256<<10]
	cases := []struct {
		name    string
		status  int
		headers []sdk.Header
		body    string
		outcome string
		keep    string
		note    string
		retry   time.Duration
	}{
		{"callback", 200, nil, `{"callback":{"notify":"Hello!","appData":{"k":1}},"maybeSomeOtherStuff":true}`, sdk.OutcomeSuccess, `{"callback":{"notify":"Hello!","appData":{"k":1}}}`, "", 0},
		{"callback just under 100 kb", 200, nil, `{"callback":` + justUnder + `}`, sdk.OutcomeSuccess, `{"callback":` + justUnder + `}`, "", 0},
		{"callback of exactly 100 kb", 200, nil, `{"callback":` + exactly + `}`, sdk.OutcomeSuccess, `{"refused":"the answer's callback is 102400 bytes; an app callback object must be less than 100 kb (102400 bytes); refused"}`, "102400 bytes", 0},
		{"answer cut off", 200, nil, cut, sdk.OutcomeSuccess, `{"refused":"the answer is over 262144 bytes and cannot be read whole; an app callback object must be less than 100 kb (102400 bytes); refused"}`, "cannot be read whole", 0},
		{"no callback", 200, nil, `{"maybeSomeOtherStuff":true}`, sdk.OutcomeSuccess, "", "", 0},
		{"plain text", 200, nil, `OK`, sdk.OutcomeSuccess, "", "", 0},
		{"null callback", 204, nil, `{"callback":null}`, sdk.OutcomeSuccess, "", "", 0},
		{"callback not an object", 200, nil, `{"callback":"Hello"}`, sdk.OutcomeSuccess, `{"refused":"the answer's callback is not an object; refused"}`, "not an object", 0},
		{"callback too large", 200, nil, big, sdk.OutcomeSuccess, `{"refused":"the answer's callback is 153614 bytes; an app callback object must be less than 100 kb (102400 bytes); refused"}`, "less than 100 kb", 0},
		{"gone", 410, nil, ``, sdk.OutcomeDisable, "", "410", 0},
		{"server error", 500, nil, `{"callback":{"message":"ignored"}}`, sdk.OutcomeRetry, "", "", 0},
		{"busy, with retry-after", 503, []sdk.Header{{Name: "Retry-After", Value: "120"}}, ``, sdk.OutcomeRetry, "", "", 2 * time.Minute},
	}
	for name, p := range both(t) {
		for _, c := range cases {
			in := input("client.create", "42", `{}`)
			in.Response = &sdk.Response{Status: c.status, Headers: c.headers, Body: []byte(c.body)}
			v := p.onResponse(t, in)
			if v.Outcome != c.outcome || string(v.Keep) != c.keep || v.RetryAfter != c.retry || (c.note == "") != (v.Message == "") || !strings.Contains(v.Message, c.note) {
				t.Errorf("%s: %s: outcome %s, message %q, retry %s, keep %.300s", name, c.name, v.Outcome, v.Message, v.RetryAfter, v.Keep)
			}
		}
	}
}
