package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
)

type subscription struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	State  string `json:"state"`
}

type delivery struct {
	ID         string           `json:"id"`
	EventID    string           `json:"event_id"`
	State      string           `json:"state"`
	Attempts   int              `json:"attempts"`
	AttemptLog []engine.Attempt `json:"attempt_log"`
}

type listOf[T any] struct {
	Data []T    `json:"data"`
	Next string `json:"next"`
}

func subscribe(t *testing.T, tn *nodetest.Tenant, url string, extra map[string]any) subscription {
	t.Helper()
	body := map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"client.*"}, "url": url}
	for k, v := range extra {
		body[k] = v
	}
	var s subscription
	tn.App.MustDo("POST", "/v1/subscriptions", body, http.StatusCreated, &s)
	return s
}

func publish(t *testing.T, tn *nodetest.Tenant, extra map[string]any) engine.Published {
	t.Helper()
	body := map[string]any{"account_id": tn.AccountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "42"}, "data": map[string]any{"id": 42, "name": "Acme"}}
	for k, v := range extra {
		body[k] = v
	}
	var p engine.Published
	tn.App.MustDo("POST", "/v1/events", body, http.StatusAccepted, &p)
	return p
}

// deliveryOf returns the only delivery of an event, waiting until it reaches want.
func deliveryOf(t *testing.T, tn *nodetest.Tenant, eventID string, want string) delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var l listOf[delivery]
		tn.App.MustDo("GET", "/v1/deliveries?event_id="+eventID, nil, http.StatusOK, &l)
		if len(l.Data) == 1 {
			var d delivery
			tn.App.MustDo("GET", "/v1/deliveries/"+l.Data[0].ID, nil, http.StatusOK, &d)
			if d.State == want {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery %s is %s with %d attempts, want %s", d.ID, d.State, d.Attempts, want)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("event %s has %d deliveries, want 1", eventID, len(l.Data))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventArrivesSignedAndVerifies follows an event from publish to a receiver, and has the
// Standard Webhooks reference library verify what arrived.
func TestEventArrivesSignedAndVerifies(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("acme", "")
	sub := subscribe(t, tn, rc.URL+"/hooks/in", nil)
	if !strings.HasPrefix(sub.Secret, "whsec_") || sub.State != "active" {
		t.Fatalf("subscription %+v", sub)
	}
	ev := publish(t, tn, map[string]any{"data": map[string]any{"id": 42, "name": "Acme ✓"}})
	if ev.Deliveries != 1 || ev.Duplicate {
		t.Fatalf("publish result %+v", ev)
	}
	got := rc.WaitFor(t, 1, 10*time.Second)[0]
	if got.Path != "/hooks/in" || got.Method != "POST" {
		t.Errorf("arrived as %s %s", got.Method, got.Path)
	}
	out, err := verifyReceived(t, got, sub.Secret)
	if err != nil {
		t.Fatalf("the standardwebhooks library did not verify the delivery: %v", err)
	}
	var payload struct {
		Type string
		Data map[string]any
	}
	if err := json.Unmarshal([]byte(out), &payload); err != nil || payload.Type != "client.create" || payload.Data["name"] != "Acme ✓" {
		t.Errorf("verified payload %s (%v)", out, err)
	}
	d := deliveryOf(t, tn, ev.ID, "succeeded")
	if got.Header.Get("webhook-id") != d.ID || len(d.AttemptLog) != 1 || d.AttemptLog[0].ResponseStatus != 204 {
		t.Errorf("webhook-id %q, delivery %+v", got.Header.Get("webhook-id"), d)
	}
	if d.AttemptLog[0].PluginVersion == "" || !strings.HasPrefix(d.AttemptLog[0].PluginVersion, "standard@1.0.0#") {
		t.Errorf("attempt records plugin version %q", d.AttemptLog[0].PluginVersion)
	}
}

// TestRetriesUntilTheReceiverRecovers: 500 three times, then 200: four attempts, all recorded.
func TestRetriesUntilTheReceiverRecovers(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(n int, _ *nodetest.Request) (int, http.Header, string) {
		if n < 3 {
			return 500, nil, fmt.Sprintf("boom %d", n)
		}
		return 200, nil, "ok"
	})
	tn := node.NewTenant("retry", "")
	subscribe(t, tn, rc.URL, map[string]any{"retry_policy": map[string]any{"schedule": []string{"50ms", "50ms", "50ms", "50ms"}}})
	ev := publish(t, tn, nil)
	d := deliveryOf(t, tn, ev.ID, "succeeded")
	if d.Attempts != 4 || len(d.AttemptLog) != 4 {
		t.Fatalf("attempts %d, log %d, want 4", d.Attempts, len(d.AttemptLog))
	}
	for i, a := range d.AttemptLog {
		wantStatus, wantBody := 500, fmt.Sprintf("boom %d", i)
		if i == 3 {
			wantStatus, wantBody = 200, "ok"
		}
		if a.Number != i+1 || a.ResponseStatus != wantStatus || a.ResponseBody != wantBody || a.RequestBody == "" {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
	reqs := rc.Requests()
	for _, r := range reqs {
		if r.Header.Get("webhook-id") != d.ID {
			t.Errorf("retry carried webhook-id %q, want the delivery id %s", r.Header.Get("webhook-id"), d.ID)
		}
	}
}

// TestDefaultScheduleWithAMovingClock runs the default schedule (5 s, 5 min, ...) by moving a
// test clock instead of waiting.
func TestDefaultScheduleWithAMovingClock(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(n int, _ *nodetest.Request) (int, http.Header, string) {
		if n < 2 {
			return 503, nil, ""
		}
		return 200, nil, ""
	})
	tn := node.NewTenant("clock", "")
	subscribe(t, tn, rc.URL, nil)
	ev := publish(t, tn, nil)
	rc.WaitFor(t, 1, 10*time.Second)
	waitForState(t, tn, ev.ID, "pending", 1)
	// Not yet: 4 s of the 5 s wait (4.5 s at the least, with jitter). The clock stands at each
	// time it is moved to, so the start time an attempt records says when it was sent: a retry sent
	// at 4 s would record 4 s, however late it reached the receiver.
	start := clock.Now()
	advance(t, clock, 4*time.Second)
	advance(t, clock, 2*time.Second) // past 5 s plus jitter
	rc.WaitFor(t, 2, 10*time.Second)
	waitForState(t, tn, ev.ID, "pending", 2)
	advance(t, clock, 6*time.Minute) // past 5 min plus jitter
	rc.WaitFor(t, 3, 10*time.Second)
	d := deliveryOf(t, tn, ev.ID, "succeeded")
	for i, want := range []time.Duration{0, 6 * time.Second, 6*time.Second + 6*time.Minute} {
		if got := d.AttemptLog[i].StartedAt.Sub(start); got != want {
			t.Errorf("attempt %d started at %s of test time, want %s", i+1, got, want)
		}
	}
	if n := len(rc.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func waitForState(t *testing.T, tn *nodetest.Tenant, eventID, state string, attempts int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var l listOf[delivery]
		tn.App.MustDo("GET", "/v1/deliveries?event_id="+eventID, nil, http.StatusOK, &l)
		if len(l.Data) == 1 && l.Data[0].State == state && l.Data[0].Attempts == attempts {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("delivery of %s did not reach %s with %d attempts", eventID, state, attempts)
}

func TestGoneDisablesTheSubscription(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) { return http.StatusGone, nil, "" })
	tn := node.NewTenant("gone", "")
	sub := subscribe(t, tn, rc.URL, nil)
	ev := publish(t, tn, nil)
	d := deliveryOf(t, tn, ev.ID, "failed")
	if d.Attempts != 1 || d.AttemptLog[0].Outcome != "disable" {
		t.Errorf("delivery %+v", d)
	}
	var s engine.Subscription
	tn.App.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &s)
	if s.State != engine.SubscriptionDisabled || !strings.Contains(s.DisabledReason, "410") {
		t.Fatalf("subscription %s: %q", s.State, s.DisabledReason)
	}
	// A disabled subscription gets nothing more.
	if p := publish(t, tn, nil); p.Deliveries != 0 {
		t.Errorf("an event after 410 created %d deliveries", p.Deliveries)
	}
}

func TestDeliverAtHoldsADeliveryUntilItsTime(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(start)
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("later", "")
	subscribe(t, tn, rc.URL, nil)
	ev := publish(t, tn, map[string]any{"deliver_at": start.Add(time.Hour).Format(time.RFC3339)})
	now := publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": "7"}, "data": map[string]any{"id": 7}})
	rc.WaitFor(t, 1, 10*time.Second) // the undeferred event arrives at once
	// Its outcome must be recorded before time jumps, or its lease would look expired and it would
	// (correctly, with the same delivery id) be sent again.
	deliveryOf(t, tn, now.ID, "succeeded")
	// The clock stands at each time it is moved to, so the start time the deferred delivery's
	// attempt records says when it was sent: had it gone at 59 minutes, it would record that,
	// however late it reached the receiver.
	advance(t, clock, 59*time.Minute)
	advance(t, clock, time.Minute)
	reqs := rc.WaitFor(t, 2, 10*time.Second)
	if !strings.Contains(string(reqs[1].Body), `"id":42`) {
		t.Errorf("the deferred delivery carried %s", reqs[1].Body)
	}
	d := deliveryOf(t, tn, ev.ID, "succeeded")
	if got := d.AttemptLog[0].StartedAt.Sub(start); d.Attempts != 1 || got != time.Hour {
		t.Errorf("the deferred delivery took %d attempts, the first at %s of test time; want 1, at 1h0m0s", d.Attempts, got)
	}
	if n := len(rc.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestIdempotencyKeyCreatesNothingTwice(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("idem", "")
	subscribe(t, tn, rc.URL, nil)
	first := publish(t, tn, map[string]any{"idempotency_key": "order-1"})
	again := publish(t, tn, map[string]any{"idempotency_key": "order-1", "data": map[string]any{"changed": true}})
	if again.ID != first.ID || !again.Duplicate || again.Deliveries != 0 {
		t.Fatalf("repeat: %+v, first %+v", again, first)
	}
	deliveryOf(t, tn, first.ID, "succeeded")
	if n := len(rc.Requests()); n != 1 {
		t.Errorf("receiver got %d requests", n)
	}
}

func TestBatchPublish(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("batch", "")
	subscribe(t, tn, rc.URL, nil)
	events := make([]map[string]any, engine.MaxPublishBatch)
	for i := range events {
		events[i] = map[string]any{"account_id": tn.AccountID, "type": "client.update", "entity": map[string]string{"type": "client", "id": fmt.Sprint(i)}, "data": map[string]int{"n": i}}
	}
	var res struct{ Events []engine.Published }
	tn.App.MustDo("POST", "/v1/events/batch", map[string]any{"events": events}, http.StatusAccepted, &res)
	if len(res.Events) != engine.MaxPublishBatch {
		t.Fatalf("%d results", len(res.Events))
	}
	rc.WaitFor(t, engine.MaxPublishBatch, 30*time.Second)
	tooMany := append(events, events[0])
	if r := tn.App.Do("POST", "/v1/events/batch", map[string]any{"events": tooMany}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("501 events: %d %s", r.Status, r.Body)
	}
}

// TestTenantIsolation: another app's credential finds nothing of the first app's.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	owner := node.NewTenant("owner", "")
	other := node.NewTenant("other", "")
	sub := subscribe(t, owner, rc.URL, nil)
	ev := publish(t, owner, nil)
	d := deliveryOf(t, owner, ev.ID, "succeeded")

	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/subscriptions/" + sub.ID},
		{"PATCH", "/v1/subscriptions/" + sub.ID},
		{"DELETE", "/v1/subscriptions/" + sub.ID},
		{"POST", "/v1/subscriptions/" + sub.ID + "/replay"},
		{"GET", "/v1/deliveries/" + d.ID},
		{"POST", "/v1/deliveries/" + d.ID + "/retry"},
	} {
		var body any
		if c.method == "PATCH" {
			body = map[string]any{"url": "http://127.0.0.1:1/stolen"}
		} else if strings.HasSuffix(c.path, "replay") {
			body = map[string]any{"since": "2020-01-01T00:00:00Z"}
		}
		r := other.App.Do(c.method, c.path, body)
		if r.Status != http.StatusNotFound || strings.Contains(string(r.Body), rc.URL) {
			t.Errorf("%s %s by another app: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	var subs listOf[engine.Subscription]
	other.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, &subs)
	var dels listOf[delivery]
	other.App.MustDo("GET", "/v1/deliveries?subscription_id="+sub.ID, nil, http.StatusOK, &dels)
	if len(subs.Data) != 0 || len(dels.Data) != 0 {
		t.Errorf("another app lists %d subscriptions and %d deliveries of the first", len(subs.Data), len(dels.Data))
	}
	// The owner's subscription is untouched.
	var s engine.Subscription
	owner.App.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &s)
	if s.URL != rc.URL || s.State != engine.SubscriptionActive {
		t.Errorf("subscription changed: %+v", s)
	}
	// Another app's credential cannot subscribe to the first account's events as the first app.
	r := other.App.Do("POST", "/v1/subscriptions", map[string]any{"app_id": owner.AppID, "account_id": owner.AccountID, "format": "standard", "events": []string{"*"}, "url": rc.URL})
	if r.Status != http.StatusUnprocessableEntity {
		t.Errorf("subscribing as another app: %d %s", r.Status, r.Body)
	}
}

// TestRevokedCredentialIsRefusedAtOnce: the engine keeps authenticated credentials in memory, and
// a revocation must reach that copy before the revoking call returns.
func TestRevokedCredentialIsRefusedAtOnce(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	tn := node.NewTenant("revoked", "")
	// Used twice first, so that the second use is served from memory.
	for range 2 {
		tn.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	}
	id, _, _ := strings.Cut(tn.Token, ".")
	node.Admin.MustDo("DELETE", "/v1/credentials/"+id, nil, http.StatusOK, nil)
	if r := tn.App.Do("GET", "/v1/subscriptions", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("a revoked credential: %d %s", r.Status, r.Body)
	}
	if r := tn.App.Do("POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "1"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("publishing with a revoked credential: %d %s", r.Status, r.Body)
	}
}

// TestBadInputs: each gets a clear error with the right status, and nothing stored changes.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) { c.MaxBodyBytes = 64 << 10 }})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("bad", "")
	sub := subscribe(t, tn, rc.URL, nil)
	good := map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"client.*"}, "url": rc.URL}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for key, val := range good {
			m[key] = val
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	stranger := node.Client("crd_01nonexistent.c2VjcmV0")
	cases := []struct {
		name         string
		client       *nodetest.Client
		method, path string
		body         any
		status       int
		code, says   string
	}{
		{"malformed JSON", tn.App, "POST", "/v1/subscriptions", `{"url": `, 400, "invalid_json", "ends before"},
		{"not JSON", tn.App, "POST", "/v1/events", `hello`, 400, "invalid_json", "invalid character"},
		{"empty body", tn.App, "POST", "/v1/events", ``, 400, "invalid_json", "empty"},
		{"unknown field", tn.App, "POST", "/v1/subscriptions", with("evnets", []string{"x"}), 422, "validation_failed", "evnets"},
		{"missing url", tn.App, "POST", "/v1/subscriptions", with("url", nil), 422, "validation_failed", "url: is required"},
		{"missing events", tn.App, "POST", "/v1/subscriptions", with("events", nil), 422, "validation_failed", "events"},
		{"bad event pattern", tn.App, "POST", "/v1/subscriptions", with("events", []string{"Client Created"}), 422, "validation_failed", "not an event type"},
		{"unknown format", tn.App, "POST", "/v1/subscriptions", with("format", "carrier-pigeon"), 422, "validation_failed", `carrier-pigeon\" is loaded`},
		{"invalid url", tn.App, "POST", "/v1/subscriptions", with("url", "ftp://example.com/x"), 422, "validation_failed", "http or https"},
		{"private url", tn.App, "POST", "/v1/subscriptions", with("url", "http://10.0.0.7/hook"), 422, "validation_failed", "10.0.0.0/8"},
		{"metadata url", tn.App, "POST", "/v1/subscriptions", with("url", "http://169.254.169.254/latest"), 422, "validation_failed", "169.254"},
		{"unknown option", tn.App, "POST", "/v1/subscriptions", with("options", map[string]string{"colour": "red"}), 422, "validation_failed", "no option"},
		{"unknown account", tn.App, "POST", "/v1/subscriptions", with("account_id", "acc_nobody"), 422, "validation_failed", `no account \"acc_nobody\"`},
		{"event for unknown account", tn.App, "POST", "/v1/events", map[string]any{"account_id": "acc_nobody", "type": "client.create", "entity": map[string]string{"type": "client", "id": "1"}}, 422, "validation_failed", "no account"},
		{"event without type", tn.App, "POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "entity": map[string]string{"type": "client", "id": "1"}}, 422, "validation_failed", "type"},
		{"event without entity", tn.App, "POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "type": "client.create"}, 422, "validation_failed", "entity"},
		{"wrongly typed field", tn.App, "POST", "/v1/events", map[string]any{"account_id": 7}, 422, "validation_failed", "account_id"},
		{"oversized body", tn.App, "POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "1"}, "data": map[string]string{"blob": strings.Repeat("x", 70<<10)}}, 413, "too_large", "too large"},
		{"no credential", node.Client(""), "GET", "/v1/subscriptions", nil, 401, "unauthorized", "no credential"},
		{"wrong credential", stranger, "GET", "/v1/subscriptions", nil, 401, "unauthorized", "not valid"},
		{"wrong admin token", node.Client("nope"), "POST", "/v1/accounts", map[string]any{"name": "x"}, 401, "unauthorized", "not valid"},
		{"app calling admin API", tn.App, "POST", "/v1/accounts", map[string]any{"name": "x"}, 403, "forbidden", "admin"},
		{"unknown subscription", tn.App, "GET", "/v1/subscriptions/sub_nothing", nil, 404, "not_found", "sub_nothing"},
		{"retry of a delivery in good standing", tn.App, "POST", "/v1/deliveries/" + firstDelivery(t, tn, rc) + "/retry", nil, 409, "conflict", "succeeded"},
	}
	before := snapshot(t, node, tn)
	for _, c := range cases {
		r := c.client.Do(c.method, c.path, c.body)
		if r.Status != c.status || r.ErrorCode() != c.code || !strings.Contains(string(r.Body), c.says) {
			t.Errorf("%s: %d %s\nwant %d %s mentioning %q", c.name, r.Status, r.Body, c.status, c.code, c.says)
		}
	}
	if after := snapshot(t, node, tn); after != before {
		t.Errorf("bad inputs changed what is stored:\nbefore %s\nafter  %s", before, after)
	}
	_ = sub
}

// firstDelivery publishes one event and returns its delivery once it has succeeded.
func firstDelivery(t *testing.T, tn *nodetest.Tenant, rc *nodetest.Receiver) string {
	ev := publish(t, tn, map[string]any{"idempotency_key": "first"})
	return deliveryOf(t, tn, ev.ID, "succeeded").ID
}

// snapshot summarises what is stored, for before-and-after comparison.
func snapshot(t *testing.T, node *nodetest.Node, tn *nodetest.Tenant) string {
	var accts listOf[engine.Account]
	node.Admin.MustDo("GET", "/v1/accounts?limit=200", nil, http.StatusOK, &accts)
	var subs listOf[engine.Subscription]
	tn.App.MustDo("GET", "/v1/subscriptions?limit=200", nil, http.StatusOK, &subs)
	var dels listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?limit=200", nil, http.StatusOK, &dels)
	raw, _ := json.Marshal([]any{len(accts.Data), subs.Data, len(dels.Data)})
	return base64.StdEncoding.EncodeToString(raw)
}
