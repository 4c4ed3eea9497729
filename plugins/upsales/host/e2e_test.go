package host_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/examples/receivers"
	"github.com/switchyard/switchyard/plugins/upsales/store"
)

// These tests run a real node on loopback (real SQLite file, the real compiled plugin) against a
// fake Upsales app: an HTTP server on loopback that answers as a test tells it to.

// app is a fake Upsales app: it records every request and answers with respond.
type app struct {
	*nodetest.Receiver
}

func newApp(t *testing.T, respond func(n int, r *nodetest.Request) (int, string)) *app {
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(n int, r *nodetest.Request) (int, http.Header, string) {
		status, body := respond(n, r)
		return status, http.Header{"Content-Type": {"application/json"}}, body
	})
	return &app{rc}
}

// triggers returns the trigger requests the app got, without widget requests.
func (a *app) triggers() []*nodetest.Request {
	var out []*nodetest.Request
	for _, r := range a.Requests() {
		if !strings.HasPrefix(r.Path, "/upsales/widget/") {
			out = append(out, r)
		}
	}
	return out
}

func (a *app) waitTriggers(t *testing.T, n int) []*nodetest.Request {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := a.triggers(); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app got %d trigger requests, want %d", len(a.triggers()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// triggerBody is what an Upsales app reads from a request.
type triggerBody struct {
	AppID             string          `json:"appId"`
	Date              string          `json:"date"`
	AuthenticationKey string          `json:"authenticationKey"`
	Customer          json.RawMessage `json:"customer"`
	User              *struct {
		ID any `json:"id"`
	} `json:"user"`
	AppData     map[string]any `json:"appData"`
	UserAppData map[string]any `json:"userAppData"`
	Data        struct {
		Object map[string]any `json:"object"`
	} `json:"data"`
	CallbackURL *string `json:"callbackUrl"`
}

func decode(t *testing.T, r *nodetest.Request) triggerBody {
	t.Helper()
	var b triggerBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("request %s: %v", r.Body, err)
	}
	return b
}

type fixture struct {
	node *nodetest.Node
	tn   *nodetest.Tenant
	app  *app
	sub  string
}

func setup(t *testing.T, opts nodetest.Options, a *app, subOptions map[string]string) *fixture {
	t.Helper()
	node := nodetest.Start(t, opts)
	tn := node.NewTenant("upsales", a.URL)
	body := map[string]any{"account_id": tn.AccountID, "format": "upsales", "events": []string{"client.create", "client.update", "order.update"},
		"url": a.URL + "/upsales", "retry_policy": map[string]any{"schedule": []string{"1h"}}}
	if subOptions != nil {
		body["options"] = subOptions
	}
	var sub struct{ ID string }
	tn.App.MustDo("POST", "/v1/subscriptions", body, http.StatusCreated, &sub)
	return &fixture{node: node, tn: tn, app: a, sub: sub.ID}
}

func (f *fixture) publish(t *testing.T, typ, id, user string) string {
	t.Helper()
	body := map[string]any{"account_id": f.tn.AccountID, "type": typ, "entity": map[string]string{"type": strings.Split(typ, ".")[0], "id": id},
		"data": map[string]any{"id": id, "name": "Acme AB"}}
	if user != "" {
		body["user"] = map[string]string{"id": user, "name": "User " + user, "email": user + "@acme.example"}
	}
	var p engine.Published
	f.tn.App.MustDo("POST", "/v1/events", body, http.StatusAccepted, &p)
	if p.Deliveries != 1 {
		t.Fatalf("event made %d deliveries", p.Deliveries)
	}
	return p.ID
}

type delivery struct {
	ID         string           `json:"id"`
	State      string           `json:"state"`
	Attempts   int              `json:"attempts"`
	AttemptLog []engine.Attempt `json:"attempt_log"`
}

// delivered waits until the event's delivery reaches state with the given attempts recorded.
func (f *fixture) delivered(t *testing.T, eventID, state string, attempts int) delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var l struct{ Data []delivery }
		f.tn.App.MustDo("GET", "/v1/deliveries?event_id="+eventID, nil, http.StatusOK, &l)
		if len(l.Data) == 1 && l.Data[0].State == state && l.Data[0].Attempts == attempts {
			var d delivery
			f.tn.App.MustDo("GET", "/v1/deliveries/"+l.Data[0].ID, nil, http.StatusOK, &d)
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery of %s: %+v, want %s after %d attempts", eventID, l.Data, state, attempts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) logs(t *testing.T) []store.LogEntry {
	t.Helper()
	var l struct{ Data []store.LogEntry }
	f.tn.App.MustDo("GET", "/v1/logs", nil, http.StatusOK, &l)
	return l.Data
}

func (f *fixture) notifications(t *testing.T, query string) []store.Notification {
	t.Helper()
	var l struct{ Data []store.Notification }
	f.tn.App.MustDo("GET", "/v1/notifications"+query, nil, http.StatusOK, &l)
	return l.Data
}

// post sends a body to a callback URL as an app would: no credential.
func post(t *testing.T, node *nodetest.Node, callbackURL string, body any) *nodetest.Response {
	t.Helper()
	c := node.Client("")
	c.Base = ""
	return c.Do("POST", callbackURL, body)
}

// upsalesError is the callback endpoint's error body.
type upsalesError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Data  any    `json:"data"`
}

func wantError(t *testing.T, r *nodetest.Response, status int, code, says string) {
	t.Helper()
	var e upsalesError
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != status || e.Code != code || !strings.Contains(e.Error, says) || e.Data != nil {
		t.Errorf("%d %s, want %d %s saying %q", r.Status, r.Body, status, code, says)
	}
}

// (a) The app answers synchronously with a callback holding appData, userAppData, status, message
// and notify: the log, the app data and the notification are stored, the next request carries the
// new data, and the callback URL of the answered request is spent.
func TestSynchronousCallback(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(n int, r *nodetest.Request) (int, string) {
		if n == 0 {
			return 200, `{"callback": {"appData": {"externalId": "abc123"}, "userAppData": {"calendar": "ann"}, "status": 2,
				"message": "A message for the log", "notify": "Hello from my app"}, "maybeSomeOtherStuff": true}`
		}
		return 200, `OK`
	})
	f := setup(t, nodetest.Options{}, a, map[string]string{"user_configurable": "true"})
	ev := f.publish(t, "client.create", "42", "7")
	d := f.delivered(t, ev, "succeeded", 1)

	first := decode(t, a.waitTriggers(t, 1)[0])
	if a.triggers()[0].Path != "/upsales/clientinsert/42" || first.AuthenticationKey != f.tn.AppSecret || first.AppID != f.tn.AppID ||
		first.CallbackURL == nil || len(first.AppData) != 0 || first.UserAppData == nil || len(first.UserAppData) != 0 || first.Data.Object["name"] != "Acme AB" {
		t.Fatalf("first request %s %s", a.triggers()[0].Path, a.triggers()[0].Body)
	}
	// The stored attempt shows where the key went, never the key.
	if body := d.AttemptLog[0].RequestBody; strings.Contains(body, f.tn.AppSecret) || !strings.Contains(body, `"authenticationKey":"[secret:app]"`) {
		t.Errorf("stored request body %s", body)
	}
	if d.AttemptLog[0].Error != "" || len(d.AttemptLog[0].Kept) == 0 {
		t.Errorf("attempt %+v", d.AttemptLog[0])
	}

	logs := f.logs(t)
	if len(logs) != 1 || logs[0].Status == nil || *logs[0].Status != 2 || logs[0].Message != "A message for the log" ||
		logs[0].Callback != store.CallbackSync || logs[0].DeliveryID != d.ID || logs[0].Trigger != "clientinsert" || logs[0].UserID != "7" {
		t.Fatalf("log %+v", logs)
	}
	notes := f.notifications(t, "?user_id=7")
	if len(notes) != 1 || notes[0].Message != "Hello from my app" || notes[0].LogID != logs[0].ID || notes[0].AccountID != f.tn.AccountID {
		t.Fatalf("notifications %+v", notes)
	}
	if others := f.notifications(t, "?user_id=8"); len(others) != 0 {
		t.Errorf("user 8 got %+v", others)
	}

	// The next request carries what the callback saved.
	ev2 := f.publish(t, "order.update", "9", "7")
	f.delivered(t, ev2, "succeeded", 1)
	second := decode(t, a.waitTriggers(t, 2)[1])
	if a.triggers()[1].Path != "/upsales/orderupdate/9" || second.AppData["externalId"] != "abc123" || second.UserAppData["calendar"] != "ann" {
		t.Errorf("second request %s", a.triggers()[1].Body)
	}

	// The first request's callback URL was spent by the answer.
	r := post(t, f.node, *first.CallbackURL, map[string]any{"message": "again"})
	wantError(t, r, http.StatusGone, "gone", "already answered this request")
	if l := f.logs(t); l[len(l)-1].Message != "A message for the log" {
		t.Errorf("a refused callback changed the log: %+v", l[len(l)-1])
	}
}

// (b) The app answers 200 without a callback and posts one later: applied; a second post is 410.
func TestDeferredCallback(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(int, *nodetest.Request) (int, string) { return 200, `{"received": true}` })
	f := setup(t, nodetest.Options{}, a, nil)
	f.delivered(t, f.publish(t, "client.update", "41", "8"), "succeeded", 1) // user 8 is now known
	ev := f.publish(t, "client.create", "42", "7")
	f.delivered(t, ev, "succeeded", 1)
	req := decode(t, a.waitTriggers(t, 2)[1])
	if req.CallbackURL == nil || !strings.HasPrefix(*req.CallbackURL, f.node.URL()+"/hooks/upsales/callbacks/") {
		t.Fatalf("callbackUrl %v", req.CallbackURL)
	}
	if l := f.logs(t); len(l) != 2 || l[0].Callback != store.CallbackOpen || l[0].Status != nil {
		t.Fatalf("logs before the callback %+v", l)
	}

	r := post(t, f.node, *req.CallbackURL, map[string]any{"appData": map[string]any{"externalId": "later"}, "message": "Crunched the numbers",
		"notify": "Sync done", "notifyAll": true})
	var ok struct {
		Error any
		Data  struct {
			Log           store.LogEntry
			Notifications int
		}
	}
	if err := json.Unmarshal(r.Body, &ok); err != nil || r.Status != 200 || ok.Error != nil || ok.Data.Notifications != 2 {
		t.Fatalf("callback: %d %s", r.Status, r.Body)
	}
	l := f.logs(t)[0]
	if l.Status == nil || *l.Status != 1 || l.Message != "Crunched the numbers" || l.Callback != store.CallbackDeferred || l.CallbackAt == nil {
		t.Errorf("log after the callback %+v", l)
	}
	for _, user := range []string{"7", "8"} {
		if n := f.notifications(t, "?user_id="+user); len(n) != 1 || n[0].Message != "Sync done" {
			t.Errorf("user %s: %+v", user, n)
		}
	}

	wantError(t, post(t, f.node, *req.CallbackURL, map[string]any{"message": "twice"}), http.StatusGone, "gone", "already posted")
	if l := f.logs(t)[0]; l.Message != "Crunched the numbers" {
		t.Errorf("the second post changed the log: %+v", l)
	}
	f.delivered(t, f.publish(t, "client.update", "42", "7"), "succeeded", 1)
	if next := decode(t, a.waitTriggers(t, 3)[2]); next.AppData["externalId"] != "later" {
		t.Errorf("next request's appData %v", next.AppData)
	}
}

// (c) A callback over 100 kb is refused with 413 and changes nothing; so do bodies that are not a
// callback object. The URL stays usable for a good one.
func TestBadCallbacksChangeNothing(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(int, *nodetest.Request) (int, string) { return 200, `OK` })
	f := setup(t, nodetest.Options{}, a, nil)
	f.delivered(t, f.publish(t, "client.create", "42", "7"), "succeeded", 1)
	cbURL := *decode(t, a.waitTriggers(t, 1)[0]).CallbackURL

	big := map[string]any{"appData": map[string]any{"blob": strings.Repeat("x", 150<<10)}, "notify": "big", "message": "big"}
	wantError(t, post(t, f.node, cbURL, big), http.StatusRequestEntityTooLarge, "too_large", "less than 100 kb (102400 bytes)")
	// Upsales: "has to be less than 100kb". {"message":""} is 14 bytes around the text.
	wantError(t, post(t, f.node, cbURL, `{"message":"`+strings.Repeat("x", 100<<10-14)+`"}`), http.StatusRequestEntityTooLarge, "too_large", "102400 bytes")
	wantError(t, post(t, f.node, cbURL, `{"notify": `), http.StatusBadRequest, "invalid_json", "")
	wantError(t, post(t, f.node, cbURL, ``), http.StatusBadRequest, "invalid_json", "empty")
	wantError(t, post(t, f.node, cbURL, `["notify"]`), http.StatusUnprocessableEntity, "validation_failed", "JSON object")
	wantError(t, post(t, f.node, cbURL, `{"status": "ok"}`), http.StatusUnprocessableEntity, "validation_failed", "status: must be a number")
	wantError(t, post(t, f.node, cbURL, `{"appData": [1]}`), http.StatusUnprocessableEntity, "validation_failed", "appData: must be an object")
	wantError(t, post(t, f.node, cbURL, `{"notifyUserIds": [true]}`), http.StatusUnprocessableEntity, "validation_failed", "notifyUserIds")
	wantError(t, post(t, f.node, f.node.URL()+"/hooks/upsales/callbacks/not-a-token", map[string]any{"notify": "x"}), http.StatusNotFound, "not_found", "no request")

	l := f.logs(t)
	if len(l) != 1 || l[0].Status != nil || l[0].Message != "" || l[0].Callback != store.CallbackOpen {
		t.Fatalf("a refused callback changed the log: %+v", l)
	}
	if n := f.notifications(t, ""); len(n) != 0 {
		t.Fatalf("a refused callback notified: %+v", n)
	}
	// Still unspent: a good callback applies.
	if r := post(t, f.node, cbURL, map[string]any{"status": 3}); r.Status != http.StatusOK {
		t.Fatalf("good callback after bad ones: %d %s", r.Status, r.Body)
	}
	if l := f.logs(t); *l[0].Status != 3 {
		t.Errorf("log %+v", l[0])
	}
}

// (d) An app that never answers is cut off at the style's timeout, shortened here through the
// node's configuration (FormatTimeouts, serve --format-timeouts), not by editing the 30 seconds the
// plugin's manifest gives. The request's callback URL stays usable afterwards.
func TestAnAppThatNeverAnswersIsCutOff(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	a := newApp(t, func(int, *nodetest.Request) (int, string) {
		<-release
		return 200, `OK`
	})
	const timeout = 700 * time.Millisecond
	f := setup(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Dispatcher.FormatTimeouts = map[string]time.Duration{"upsales": timeout}
	}}, a, nil)
	start := time.Now()
	ev := f.publish(t, "client.create", "42", "7")
	d := f.delivered(t, ev, "pending", 1)
	took := time.Since(start)
	at := d.AttemptLog[0]
	if !strings.Contains(at.Error, "deadline exceeded") || at.ResponseStatus != 0 || at.Outcome != "retry" {
		t.Errorf("attempt %+v", at)
	}
	// The deadline is the contract here: no answer means cut off at it, and not much later.
	if at.DurationMS < timeout.Milliseconds() || at.DurationMS > 5000 || took > 10*time.Second {
		t.Errorf("cut off after %d ms (the test waited %v); want about %v", at.DurationMS, took, timeout)
	}
	t.Logf("an app that never answers was cut off after %d ms (timeout %v)", at.DurationMS, timeout)
	cbURL := *decode(t, a.waitTriggers(t, 1)[0]).CallbackURL
	once.Do(func() { close(release) })
	if r := post(t, f.node, cbURL, map[string]any{"message": "took a while"}); r.Status != http.StatusOK {
		t.Errorf("a deferred callback after the timeout: %d %s", r.Status, r.Body)
	}
}

// The scheduler expires callback URLs after the configured time; a post then gets 410.
func TestCallbackURLExpires(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	a := newApp(t, func(int, *nodetest.Request) (int, string) { return 200, `OK` })
	f := setup(t, nodetest.Options{Clock: clock, Configure: func(c *node.Config) {
		c.StyleSettings = map[string]string{"upsales.callback_ttl": "1h"}
	}}, a, nil)
	f.delivered(t, f.publish(t, "client.create", "42", "7"), "succeeded", 1)
	cbURL := *decode(t, a.waitTriggers(t, 1)[0]).CallbackURL
	if l := f.logs(t)[0]; !l.CallbackExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("callback open until %v", l.CallbackExpiresAt)
	}
	clock.Advance(61 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for f.logs(t)[0].Callback != store.CallbackExpired {
		if time.Now().After(deadline) {
			t.Fatalf("the expiry job did not run: %+v", f.logs(t)[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantError(t, post(t, f.node, cbURL, map[string]any{"notify": "too late"}), http.StatusGone, "gone", "expired")
	if n := f.notifications(t, ""); len(n) != 0 {
		t.Errorf("an expired callback notified: %+v", n)
	}
}

// The notification modal asks the app for its widget within 90 days of the request, and shows the
// placeholder after (the clock moves; nothing sleeps), or when the app gives no widget.
func TestNotificationModal(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	widgetAnswer := `{"type": "widget", "rows": [{"type": "markdown", "markdown": "**Hello!**"}]}`
	a := newApp(t, func(n int, r *nodetest.Request) (int, string) {
		if r.Path == "/upsales/widget/notification" {
			mu.Lock()
			defer mu.Unlock()
			return 200, widgetAnswer
		}
		return 200, `{"callback": {"notify": "Hello!", "message": "Imported"}}`
	})
	f := setup(t, nodetest.Options{Clock: clock}, a, nil)
	f.delivered(t, f.publish(t, "client.create", "42", "7"), "succeeded", 1)
	notes := f.notifications(t, "?user_id=7")
	if len(notes) != 1 {
		t.Fatalf("notifications %+v", notes)
	}
	open := func() string {
		t.Helper()
		r := f.tn.App.MustDo("POST", "/v1/notifications/"+notes[0].ID+"/open", nil, http.StatusOK, nil)
		return string(r.Body)
	}
	widgetRequests := func() []*nodetest.Request {
		var out []*nodetest.Request
		for _, r := range a.Requests() {
			if r.Path == "/upsales/widget/notification" {
				out = append(out, r)
			}
		}
		return out
	}
	const placeholder = `{"type":"widget","rows":[{"type":"markdown","markdown":"No more information for this notification"}]}`

	if got := open(); got != `{"type":"widget","rows":[{"type":"markdown","markdown":"**Hello!**"}]}` {
		t.Fatalf("modal %s", got)
	}
	wr := widgetRequests()
	if len(wr) != 1 || wr[0].Method != "POST" {
		t.Fatalf("widget requests %+v", wr)
	}
	var sent struct {
		AppID, AuthenticationKey string
		Data                     store.LogEntry
	}
	if err := json.Unmarshal(wr[0].Body, &sent); err != nil || sent.AuthenticationKey != f.tn.AppSecret || sent.Data.ID != notes[0].LogID || sent.Data.Message != "Imported" || sent.AppID != f.tn.AppID {
		t.Errorf("widget request %s", wr[0].Body)
	}
	var n store.Notification
	f.tn.App.MustDo("GET", "/v1/notifications?user_id=7", nil, http.StatusOK, &struct{ Data []*store.Notification }{Data: []*store.Notification{&n}})
	if n.OpenedAt == nil || !n.OpenedAt.Equal(clock.Now()) {
		t.Errorf("opened_at %v", n.OpenedAt)
	}

	// An app without a widget to give: the placeholder.
	mu.Lock()
	widgetAnswer = `not a widget`
	mu.Unlock()
	if got := open(); got != placeholder {
		t.Errorf("modal with a non-widget answer: %s", got)
	}
	mu.Lock()
	widgetAnswer = `{"type": "widget", "rows": [{"type": "markdown", "markdown": "still here"}]}`
	mu.Unlock()

	clock.Advance(89 * 24 * time.Hour)
	if got := open(); !strings.Contains(got, "still here") {
		t.Errorf("modal on day 89: %s", got)
	}
	clock.Advance(2 * 24 * time.Hour)
	asked := len(widgetRequests())
	if got := open(); got != placeholder {
		t.Errorf("modal on day 91: %s", got)
	}
	if len(widgetRequests()) != asked {
		t.Error("the app was asked for a widget after 90 days")
	}
	// The retention job removes the entry; the notification stays, with its placeholder.
	deadline := time.Now().Add(10 * time.Second)
	for len(f.logs(t)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the retention job did not remove the 91-day-old log entry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := open(); got != placeholder || len(f.notifications(t, "")) != 1 {
		t.Errorf("after retention: %s", got)
	}
}

// Each app sees its own log entries and notifications; the operator sees all.
func TestLogsAndNotificationsBelongToTheirApp(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(int, *nodetest.Request) (int, string) { return 200, `{"callback": {"notify": "mine"}}` })
	f := setup(t, nodetest.Options{}, a, nil)
	f.delivered(t, f.publish(t, "client.create", "42", "7"), "succeeded", 1)
	entry := f.logs(t)[0]
	note := f.notifications(t, "")[0]
	other := f.node.NewTenant("other", "")

	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/logs/" + entry.ID},
		{"POST", "/v1/notifications/" + note.ID + "/open"},
	} {
		if r := other.App.Do(c.method, c.path, nil); r.Status != http.StatusNotFound || strings.Contains(string(r.Body), entry.DeliveryID) {
			t.Errorf("%s %s by another app: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	var logs, notes struct{ Data []any }
	other.App.MustDo("GET", "/v1/logs", nil, http.StatusOK, &logs)
	other.App.MustDo("GET", "/v1/notifications?user_id=7", nil, http.StatusOK, &notes)
	if len(logs.Data) != 0 || len(notes.Data) != 0 {
		t.Errorf("another app lists %d entries and %d notifications", len(logs.Data), len(notes.Data))
	}
	if r := other.App.Do("GET", "/v1/logs?app_id="+f.tn.AppID, nil); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("another app naming the owner: %d %s", r.Status, r.Body)
	}
	if r := f.node.Client("").Do("GET", "/v1/logs", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no credential: %d", r.Status)
	}
	var all struct{ Data []store.LogEntry }
	f.node.Admin.MustDo("GET", "/v1/logs?app_id="+f.tn.AppID, nil, http.StatusOK, &all)
	if len(all.Data) != 1 || all.Data[0].ID != entry.ID {
		t.Errorf("the operator sees %+v", all.Data)
	}
	var got store.LogEntry
	f.node.Admin.MustDo("GET", "/v1/logs/"+entry.ID, nil, http.StatusOK, &got)
	if got.ID != entry.ID || fmt.Sprint(got.Status) == "<nil>" {
		t.Errorf("the operator reads %+v", got)
	}
}

// A synchronous callback of the wrong shape is not applied, says why on the attempt, and leaves
// the callback URL open for a good one.
func TestAMalformedSynchronousCallbackIsNotedAndLeavesTheURLOpen(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(int, *nodetest.Request) (int, string) {
		return 200, `{"callback": {"status": "done", "notify": "Hello"}}`
	})
	f := setup(t, nodetest.Options{}, a, nil)
	d := f.delivered(t, f.publish(t, "client.create", "42", "7"), "succeeded", 1)
	if at := d.AttemptLog[0]; !strings.Contains(at.Error, "callback not applied: status: must be a number") {
		t.Errorf("attempt %+v", at)
	}
	if l := f.logs(t); l[0].Status != nil || l[0].Callback != store.CallbackOpen || len(f.notifications(t, "")) != 0 {
		t.Fatalf("log %+v", l[0])
	}
	cbURL := *decode(t, a.waitTriggers(t, 1)[0]).CallbackURL
	if r := post(t, f.node, cbURL, map[string]any{"status": 1, "notify": "Hello"}); r.Status != http.StatusOK {
		t.Errorf("a good callback afterwards: %d %s", r.Status, r.Body)
	}
}

// (issue 15, finding 8) Deferred callbacks, each under the 100 kb a callback may be, cannot grow
// the saved appData past 100 kb: the one that would is refused with 422, its request's log entry
// and callback unchanged, and the next request to the app carries only what was saved before.
func TestAppDataCannotGrowWithoutEnd(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(int, *nodetest.Request) (int, string) { return 200, `OK` })
	f := setup(t, nodetest.Options{}, a, nil)
	for i, id := range []string{"1", "2"} {
		f.delivered(t, f.publish(t, "client.create", id, "7"), "succeeded", 1)
		a.waitTriggers(t, i+1)
	}
	reqs := a.waitTriggers(t, 2)
	blob := strings.Repeat("x", 60<<10)
	if r := post(t, f.node, *decode(t, reqs[0]).CallbackURL, map[string]any{"appData": map[string]any{"first": blob}}); r.Status != http.StatusOK {
		t.Fatalf("first callback: %d %s", r.Status, r.Body)
	}
	wantError(t, post(t, f.node, *decode(t, reqs[1]).CallbackURL, map[string]any{"appData": map[string]any{"second": blob}, "message": "grown"}),
		http.StatusUnprocessableEntity, "validation_failed", "over 102400 (100 kb)")
	for _, l := range f.logs(t) {
		if l.Message == "grown" {
			t.Errorf("the refused callback changed its log entry: %+v", l)
		}
	}
	f.delivered(t, f.publish(t, "client.update", "1", "7"), "succeeded", 1)
	next := decode(t, a.waitTriggers(t, 3)[2])
	if _, ok := next.AppData["second"]; ok || next.AppData["first"] != blob {
		t.Errorf("the next request's appData has keys %v", keys(next.AppData))
	}
	// The refused request's URL is still open: a callback that makes room applies.
	if r := post(t, f.node, *decode(t, reqs[1]).CallbackURL, map[string]any{"appData": map[string]any{"first": nil, "second": blob}}); r.Status != http.StatusOK {
		t.Errorf("a callback that makes room: %d %s", r.Status, r.Body)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// callbackOf returns a callback object of exactly n bytes: {"message":"xx..."}.
func callbackOf(n int) string { return `{"message":"` + strings.Repeat("x", n-14) + `"}` }

// TestSynchronousCallbackOf100kbIsRefusedOnTheLog: Upsales wants an app callback object "less than
// 100kb". One of exactly 102,400 bytes in the app's answer is refused, and the request's log entry
// says so; the delivery succeeds (the app answered) and the callback URL stays open for a smaller
// one. One byte less applies.
func TestSynchronousCallbackOf100kbIsRefusedOnTheLog(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(n int, r *nodetest.Request) (int, string) {
		if n == 0 {
			return 200, `{"callback":` + callbackOf(100<<10) + `}`
		}
		return 200, `{"callback":` + callbackOf(100<<10-1) + `}`
	})
	f := setup(t, nodetest.Options{}, a, nil)
	d := f.delivered(t, f.publish(t, "client.create", "42", "7"), "succeeded", 1)
	if !strings.Contains(d.AttemptLog[0].Error, "102400 bytes") {
		t.Errorf("the attempt does not say why the callback was refused: %q", d.AttemptLog[0].Error)
	}
	l := f.logs(t)
	if len(l) != 1 || l[0].Status != nil || l[0].Message != "" || l[0].Callback != store.CallbackOpen ||
		!strings.Contains(l[0].CallbackError, "102400 bytes") || !strings.Contains(l[0].CallbackError, "less than 100 kb") {
		t.Fatalf("log after a 102,400-byte callback: %+v", l)
	}
	cbURL := *decode(t, a.waitTriggers(t, 1)[0]).CallbackURL
	if r := post(t, f.node, cbURL, map[string]any{"status": 2}); r.Status != http.StatusOK {
		t.Errorf("a callback posted after the refused one: %d %s", r.Status, r.Body)
	}

	// 102,399 bytes is less than 100 kb: it applies.
	f.delivered(t, f.publish(t, "client.update", "43", "7"), "succeeded", 1)
	l = f.logs(t)
	if len(l) != 2 || l[0].Status == nil || *l[0].Status != 1 || len(l[0].Message) != 100<<10-1-14 || l[0].CallbackError != "" {
		t.Errorf("log after a 102,399-byte callback: status %v, message of %d bytes, error %q", l[0].Status, len(l[0].Message), l[0].CallbackError)
	}
}

// TestDateIsWhenSentAndIDsAreNumbers: an event that occurred in 2020 is sent dated now, and an app
// and account with numeric external ids are appId and customer.id as numbers, as Upsales numbers
// them; examples/receivers/upsales.js, which reads the request as an app written for Upsales does,
// checks both.
func TestDateIsWhenSentAndIDsAreNumbers(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(int, *nodetest.Request) (int, string) { return 200, `OK` })
	node := nodetest.Start(t, nodetest.Options{})
	var acct engine.Account
	node.Admin.MustDo("POST", "/v1/accounts", map[string]any{"name": "Acme AB", "external_id": 1042}, http.StatusCreated, &acct)
	var app struct {
		ID, Secret string
		ExternalID *int64 `json:"external_id"`
	}
	node.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": "Numbered app", "url": a.URL, "external_id": 12}, http.StatusCreated, &app)
	if acct.ExternalID == nil || *acct.ExternalID != 1042 || app.ExternalID == nil || *app.ExternalID != 12 {
		t.Fatalf("created %+v and %+v", acct, app)
	}
	node.Grant(acct.ID, app.ID, "*")
	cred := node.Credential(app.ID, engine.NewCredential{Kind: engine.CredentialAPIKey, Scopes: []string{engine.ScopePublish}, AllAccounts: true})
	api := node.Client(cred.Token)
	api.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": acct.ID, "format": "upsales", "events": []string{"client.create"}, "url": a.URL + "/upsales"}, http.StatusCreated, nil)

	before := time.Now().UTC().Truncate(time.Millisecond)
	api.MustDo("POST", "/v1/events", map[string]any{"account_id": acct.ID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "42"},
		"data": map[string]any{"id": 42}, "occurred_at": "2020-02-03T04:05:06Z"}, http.StatusAccepted, nil)
	r := a.waitTriggers(t, 1)[0]
	after := time.Now().UTC()

	out, err := receivers.Run(t, "upsales.js", "verify", "--key", app.Secret, "--numeric-ids", "yes", saveRequest(t, r))
	if err != nil {
		t.Fatalf("the app refuses the request: %v\n%s", err, r.Body)
	}
	var read struct {
		Date     string
		AppID    any `json:"appId"`
		Customer struct{ ID any }
	}
	if err := json.Unmarshal([]byte(out), &read); err != nil {
		t.Fatal(err)
	}
	date, err := time.Parse(time.RFC3339Nano, read.Date)
	if err != nil || date.Before(before) || date.After(after) {
		t.Errorf("date %s, want when it was sent (between %s and %s), not the event's 2020", read.Date, before, after)
	}
	if read.AppID != float64(12) || read.Customer.ID != float64(1042) {
		t.Errorf("appId %#v, customer.id %#v; want 12 and 1042", read.AppID, read.Customer.ID)
	}

	// Bad external ids are refused, naming the field, and store nothing.
	for _, bad := range []any{0, -1, int64(1) << 53, "12", 1.5} {
		node.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": "Bad", "external_id": bad}, http.StatusUnprocessableEntity, nil)
	}
	node.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": "Same", "external_id": 12}, http.StatusConflict, nil)
	node.Admin.MustDo("POST", "/v1/accounts", map[string]any{"name": "Same", "external_id": 1042}, http.StatusConflict, nil)
}

// saveRequest writes a request as examples/receivers/upsales.js reads one.
func saveRequest(t *testing.T, r *nodetest.Request) string {
	t.Helper()
	headers := map[string]string{}
	for k := range r.Header {
		headers[strings.ToLower(k)] = r.Header.Get(k)
	}
	b, _ := json.Marshal(map[string]any{"method": r.Method, "path": strings.TrimPrefix(r.Path, "/upsales"), "headers": headers, "body": string(r.Body)})
	file := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestARetriedRequestKeepsTheFirstCallback: an app that answers after the 30 s limit (shortened
// here) is sent the request again, and so runs twice. Switchyard keeps the first callback that
// arrives, through either path, and refuses the other, saying so on the log entry:
//   - client 1: the retry carries the same callbackUrl (the callback is still open) and its answer's
//     callback applies; the first run, finishing later, posts to that URL and gets 410;
//   - client 2: the first run posts its callback before the retry; the retry carries no callbackUrl,
//     and the callback in its answer is refused on the log.
func TestARetriedRequestKeepsTheFirstCallback(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	seen := map[string]int{}
	a := newApp(t, func(_ int, r *nodetest.Request) (int, string) {
		mu.Lock()
		n := seen[r.Path]
		seen[r.Path]++
		mu.Unlock()
		if n == 0 {
			<-release // the first run takes longer than the limit
			return 200, `{"callback": {"message": "first run, answered too late"}}`
		}
		return 200, `{"callback": {"message": "second run"}}`
	})
	// After newApp's: cleanups run last first, and the receiver's Close waits for the blocked run.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	f := setup(t, nodetest.Options{Clock: clock, Configure: func(c *node.Config) {
		c.Dispatcher.FormatTimeouts = map[string]time.Duration{"upsales": 500 * time.Millisecond}
	}}, a, nil)
	one := f.publish(t, "client.create", "1", "7")
	two := f.publish(t, "client.create", "2", "7")
	f.delivered(t, one, "pending", 1)
	f.delivered(t, two, "pending", 1)
	first := map[string]string{}
	for _, r := range a.waitTriggers(t, 2) {
		first[r.Path] = *decode(t, r).CallbackURL
	}
	// Client 2's first run finishes and posts its callback before the retry.
	if r := post(t, f.node, first["/upsales/clientinsert/2"], map[string]any{"message": "first run"}); r.Status != http.StatusOK {
		t.Fatalf("the first run's callback: %d %s", r.Status, r.Body)
	}

	clock.Advance(2 * time.Hour) // the subscription's retry schedule is 1h, give or take 10%
	f.delivered(t, one, "succeeded", 2)
	f.delivered(t, two, "succeeded", 2)
	retries := map[string]triggerBody{}
	for _, r := range a.waitTriggers(t, 4)[2:] {
		retries[r.Path] = decode(t, r)
	}
	if got := retries["/upsales/clientinsert/1"].CallbackURL; got == nil || *got != first["/upsales/clientinsert/1"] {
		t.Errorf("client 1's retry carries callbackUrl %v, want the first request's %s", got, first["/upsales/clientinsert/1"])
	}
	if got := retries["/upsales/clientinsert/2"].CallbackURL; got != nil {
		t.Errorf("client 2's retry carries callbackUrl %s after its callback was used", *got)
	}
	// Client 1's first run finishes now and posts to the URL its retry answered for.
	wantError(t, post(t, f.node, first["/upsales/clientinsert/1"], map[string]any{"message": "first run"}), http.StatusGone, "gone", "already answered")
	once.Do(func() { close(release) })

	byEntity := map[string]store.LogEntry{}
	for _, l := range f.logs(t) {
		byEntity[l.EntityID] = l
	}
	if l := byEntity["1"]; l.Message != "second run" || l.Callback != store.CallbackSync || l.CallbackError != "" {
		t.Errorf("client 1's log: %+v", l)
	}
	if l := byEntity["2"]; l.Message != "first run" || l.Callback != store.CallbackDeferred || !strings.Contains(l.CallbackError, "already posted") {
		t.Errorf("client 2's log: %+v", l)
	}
}

// TestNotifyAllReachesEveryUserOfTheAccount: Upsales' notifyAll sends "the notification to every
// user for this account". The platform tells Switchyard the account's users (PUT
// /v1/accounts/{id}/users/{user_id}); users no event ever named get it too, and a user of another
// account does not.
func TestNotifyAllReachesEveryUserOfTheAccount(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(int, *nodetest.Request) (int, string) {
		return 200, `{"callback": {"notify": "Sync done", "notifyAll": true}}`
	})
	f := setup(t, nodetest.Options{}, a, nil)
	for _, id := range []string{"101", "102"} {
		f.node.Admin.MustDo("PUT", "/v1/accounts/"+f.tn.AccountID+"/users/"+id, map[string]any{"permissions": []string{}}, http.StatusCreated, nil)
	}
	other := f.node.NewTenant("other", a.URL)
	f.node.Admin.MustDo("PUT", "/v1/accounts/"+other.AccountID+"/users/999", map[string]any{"permissions": []string{}}, http.StatusCreated, nil)
	var listed struct{ Data []engine.AccountUser }
	f.node.Admin.MustDo("GET", "/v1/accounts/"+f.tn.AccountID+"/users", nil, http.StatusOK, &listed)
	if len(listed.Data) != 2 {
		t.Fatalf("the account's users: %+v", listed.Data)
	}

	f.delivered(t, f.publish(t, "client.create", "42", "7"), "succeeded", 1)
	var got []string
	for _, n := range f.notifications(t, "") {
		got = append(got, n.UserID)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "101,102,7" {
		t.Errorf("notifyAll reached %v, want every user of the account: 101, 102 (told by the platform) and 7 (named by the event)", got)
	}
}
