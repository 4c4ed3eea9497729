package host_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/examples/receivers"
	"github.com/switchyard/switchyard/plugins/quicklysign/host"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The document keys are QuicklySign-style: opaque, URL-safe strings.
const (
	docA = "ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgMDvCww"
	docB = "ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgMCfCgw"
	docC = "ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgICACgw"
)

// client is an integrator's QuicklySign client: a Switchyard client credential, used the way
// QuicklySign's document says.
type client struct {
	t            *testing.T
	http         *nodetest.Client
	id, secret   string
	tenant       *nodetest.Tenant
	accountBound bool
	// webhooks are the keys made through v1, whose calls are under /v1/webhooks.
	webhooks map[string]bool
}

func newClient(t *testing.T, node *nodetest.Node, tn *nodetest.Tenant, accountID string) *client {
	t.Helper()
	var cred engine.IssuedCredential
	node.Admin.MustDo("POST", "/v1/apps/"+tn.AppID+"/credentials", map[string]any{"kind": "client", "account_id": accountID}, http.StatusCreated, &cred)
	if cred.ClientID == "" || cred.ClientSecret == "" {
		t.Fatalf("client credential %+v", cred)
	}
	return &client{t: t, http: node.Client(""), id: cred.ClientID, secret: cred.ClientSecret, tenant: tn, accountBound: accountID != "", webhooks: map[string]bool{}}
}

// do calls path (under the compatible prefix) with the client's credentials in the query string,
// or, for POST, in the body as the document shows.
func (c *client) do(method, path string, query url.Values, body map[string]any) *nodetest.Response {
	c.t.Helper()
	if query == nil {
		query = url.Values{}
	}
	var payload any
	if method == "POST" {
		m := map[string]any{"client_id": c.id, "client_secret": c.secret}
		for k, v := range body {
			m[k] = v
		}
		payload = m
	} else {
		query.Set("client_id", c.id)
		query.Set("client_secret", c.secret)
	}
	target := host.Prefix + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	return c.http.Do(method, target, payload)
}

// ok calls and decodes a success envelope's data, failing the test on anything else.
func (c *client) ok(method, path string, query url.Values, body map[string]any, data any) *nodetest.Response {
	c.t.Helper()
	r := c.do(method, path, query, body)
	var env struct {
		Status struct {
			StatusCode int `json:"status_code"`
			Errors     []any
		}
		Data json.RawMessage
	}
	r.JSON(c.t, &env)
	if r.Status != 200 || env.Status.StatusCode != 200 || env.Status.Errors != nil {
		c.t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
	}
	if data != nil {
		if err := json.Unmarshal(env.Data, data); err != nil {
			c.t.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
	return r
}

type sub struct {
	EntityKey     string  `json:"entity_key"`
	DateUpdated   int64   `json:"date_updated"`
	SubscriberKey *string `json:"subscriber_key"`
	Callback      string  `json:"callback"`
	Key           string  `json:"key"`
	WebhookKey    string  `json:"webhook_key"`
	DateCreated   int64   `json:"date_created"`
}

func (c *client) subscribe(entity, callback string) sub {
	c.t.Helper()
	var data struct{ Subscription sub }
	c.ok("POST", "/v0/subscriptions", nil, map[string]any{"subscription": map[string]string{"entity_key": entity, "callback": callback}}, &data)
	return data.Subscription
}

func (c *client) webhook(entity, callback string) sub {
	c.t.Helper()
	var data struct{ Webhook sub }
	c.ok("POST", "/v1/webhooks", nil, map[string]any{"webhook": map[string]string{"entity_key": entity, "callback": callback}}, &data)
	c.webhooks[data.Webhook.Key] = true
	return data.Webhook
}

type callbackLog struct {
	Callbacks []struct {
		Key           string `json:"key"`
		CallbackEvent string `json:"callback_event"`
		EntityKey     string `json:"entity_key"`
		Status        string `json:"status"`
		AttemptCount  int    `json:"attempt_count"`
		NextAttempt   *int64 `json:"next_attempt"`
		DateCreated   int64  `json:"date_created"`
		Attempts      []struct {
			Number     int    `json:"number"`
			Date       int64  `json:"date"`
			StatusCode int    `json:"status_code"`
			Response   string `json:"response"`
			Outcome    string `json:"outcome"`
			Error      string `json:"error"`
		} `json:"attempts"`
	} `json:"callbacks"`
	NextCursor string `json:"next_cursor"`
}

func (c *client) callbacks(key string, query url.Values) callbackLog {
	c.t.Helper()
	var l callbackLog
	c.ok("GET", c.base(key)+"/"+key+"/callbacks", query, nil, &l)
	return l
}

// base is the collection a key's calls go to: its API version's.
func (c *client) base(key string) string {
	if c.webhooks[key] {
		return "/v1/webhooks"
	}
	return "/v0/subscriptions"
}

// publish sends a document event through the native API, as the publishing platform does.
func publish(t *testing.T, tn *nodetest.Tenant, typ, entity string) engine.Published {
	t.Helper()
	var p engine.Published
	tn.App.MustDo("POST", "/v1/events", map[string]any{
		"account_id": tn.AccountID, "type": typ, "entity": map[string]string{"type": "document", "id": entity},
		"data": map[string]any{"key": entity},
	}, http.StatusAccepted, &p)
	return p
}

// waitForCallback waits until the subscription's newest delivery reaches state.
func waitForCallback(t *testing.T, c *client, key, state string, attempts int) callbackLog {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l := c.callbacks(key, nil)
		if len(l.Callbacks) > 0 && l.Callbacks[0].Status == state && l.Callbacks[0].AttemptCount == attempts {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription %s: callbacks %+v; want the newest %s after %d attempts", key, l.Callbacks, state, attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func answer(status int) func(int, *nodetest.Request) (int, http.Header, string) {
	return func(int, *nodetest.Request) (int, http.Header, string) { return status, nil, "ok" }
}

type body struct {
	SubscriptionKey string `json:"subscription_key"`
	WebhookKey      string `json:"webhook_key"`
	EntityKey       string `json:"entity_key"`
	EntityType      string `json:"entity_type"`
	CallbackEvent   string `json:"callback_event"`
}

// TestSubscribedDocumentsGetTheirCallbacks subscribes to two documents through the compatible
// API (one through v0, one through v1), publishes events for both and for a third, and checks that
// the receiver gets exactly the subscribed documents' callbacks, with the bodies QuicklySign
// describes, as checked by a receiver written from that description alone.
func TestSubscribedDocumentsGetTheirCallbacks(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(answer(200))
	tn := node.NewTenant("signer", "")
	c := newClient(t, node, tn, tn.AccountID)
	a := c.subscribe(docA, rc.URL+"/v0/test_callback")
	b := c.webhook(docB, rc.URL+"/v1/test_callback")

	published := map[string]int{}
	for _, ev := range []struct{ typ, doc string }{
		{"document.update", docA}, {"document.status_change", docB}, {"document.finalize", docA},
		{"document.update", docC}, {"document.status_change", docC}, {"document.finalize", docC},
		{"document.finalize", docB},
	} {
		published[ev.typ+" "+ev.doc] = publish(t, tn, ev.typ, ev.doc).Deliveries
	}
	for key, n := range published {
		want := 1
		if strings.HasSuffix(key, docC) {
			want = 0
		}
		if n != want {
			t.Errorf("%s made %d deliveries; want %d", key, n, want)
		}
	}
	want := []body{
		{SubscriptionKey: a.Key, EntityKey: docA, EntityType: "Document", CallbackEvent: "entity_updated"},
		{SubscriptionKey: a.Key, EntityKey: docA, EntityType: "Document", CallbackEvent: "final_document_generated"},
		{WebhookKey: b.Key, EntityKey: docB, EntityType: "Document", CallbackEvent: "document_status_changed"},
		{WebhookKey: b.Key, EntityKey: docB, EntityType: "Document", CallbackEvent: "final_document_generated"},
	}
	reqs := rc.WaitFor(t, len(want), 15*time.Second)
	var got []body
	var files []string
	for i, r := range reqs {
		var b body
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("callback %s: %v", r.Body, err)
		}
		got = append(got, b)
		wantPath := "/v0/test_callback"
		if b.WebhookKey != "" {
			wantPath = "/v1/test_callback"
		}
		if r.Method != "POST" || r.Path != wantPath || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("callback %d arrived as %s %s (%s)", i, r.Method, r.Path, r.Header.Get("Content-Type"))
		}
		headers := map[string]string{}
		for k := range r.Header {
			headers[k] = r.Header.Get(k)
		}
		raw, _ := json.Marshal(map[string]any{"method": r.Method, "headers": headers, "body": string(r.Body)})
		file := filepath.Join(t.TempDir(), fmt.Sprintf("callback-%d.json", i))
		if err := os.WriteFile(file, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
	}
	key := func(b body) string { return b.SubscriptionKey + b.WebhookKey + b.CallbackEvent }
	slices.SortFunc(got, func(x, y body) int { return strings.Compare(key(x), key(y)) })
	slices.SortFunc(want, func(x, y body) int { return strings.Compare(key(x), key(y)) })
	if !slices.Equal(got, want) {
		t.Errorf("callbacks\n got %+v\nwant %+v", got, want)
	}
	if out, err := receivers.Run(t, "quicklysign.js", append([]string{"check"}, files...)...); err != nil {
		t.Errorf("the independent receiver refused a callback: %v", err)
	} else if n := strings.Count(out, "\n"); n != len(want) {
		t.Errorf("the receiver read %d callbacks:\n%s", n, out)
	}
	// Every delivery succeeded on its one attempt, so nothing more is on its way.
	for _, key := range []string{a.Key, b.Key} {
		l := waitForCallback(t, c, key, "succeeded", 1)
		for _, cb := range l.Callbacks {
			if cb.Status != "succeeded" || len(cb.Attempts) != 1 || cb.Attempts[0].StatusCode != 200 {
				t.Errorf("subscription %s: callback %+v", key, cb)
			}
		}
	}
	if n := len(rc.Requests()); n != len(want) {
		t.Errorf("the receiver got %d callbacks; want %d", n, len(want))
	}
}

// TestOnlyTwoHundredCounts: a receiver answering 201 is tried again, with the same body and
// delivery id, until it answers 200; the callback log shows both attempts and why the first failed.
// The retry schedule is shortened through the native API, which shows the subscription made
// through the compatible API is an ordinary Switchyard subscription.
func TestOnlyTwoHundredCounts(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(n int, _ *nodetest.Request) (int, http.Header, string) {
		if n == 0 {
			return http.StatusCreated, nil, `{"created": true}`
		}
		return http.StatusOK, nil, "thanks"
	})
	tn := node.NewTenant("created", "")
	c := newClient(t, node, tn, tn.AccountID)
	s := c.subscribe(docA, rc.URL)
	var native engine.Subscription
	tn.App.MustDo("PATCH", "/v1/subscriptions/"+s.Key, map[string]any{"retry_policy": map[string]any{"schedule": []string{"50ms", "50ms"}}}, http.StatusOK, &native)
	if native.Format != "quicklysign" || native.EntityKey != docA || len(native.Events) != 3 || native.Options["api"] != "v0" {
		t.Errorf("native view of the subscription: %+v", native)
	}
	publish(t, tn, "document.status_change", docA)
	l := waitForCallback(t, c, s.Key, "succeeded", 2)
	reqs := rc.Requests()
	if len(reqs) != 2 || string(reqs[0].Body) != string(reqs[1].Body) ||
		reqs[0].Header.Get("X-Switchyard-Delivery-Id") != l.Callbacks[0].Key || reqs[1].Header.Get("X-Switchyard-Delivery-Id") != l.Callbacks[0].Key {
		t.Fatalf("%d requests; the delivery is %s", len(reqs), l.Callbacks[0].Key)
	}
	atts := l.Callbacks[0].Attempts
	if len(atts) != 2 || atts[0].Number != 2 || atts[0].StatusCode != 200 || atts[0].Outcome != "success" || atts[0].Response != "thanks" ||
		atts[1].Number != 1 || atts[1].StatusCode != 201 || atts[1].Outcome != "retry" || atts[1].Response != `{"created": true}` ||
		!strings.Contains(atts[1].Error, "answered 201") || atts[0].Date < atts[1].Date {
		t.Errorf("attempts, newest first: %+v", atts)
	}
}

// TestRetryAfterIsHonoured: a receiver's Retry-After sets when the callback is tried again.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		return http.StatusServiceUnavailable, http.Header{"Retry-After": {"7200"}}, "busy"
	})
	tn := node.NewTenant("busy", "")
	c := newClient(t, node, tn, tn.AccountID)
	s := c.subscribe(docA, rc.URL)
	publish(t, tn, "document.update", docA)
	l := waitForCallback(t, c, s.Key, "pending", 1)
	cb := l.Callbacks[0]
	if cb.NextAttempt == nil || len(cb.Attempts) != 1 {
		t.Fatalf("callback %+v", cb)
	}
	// The default schedule's first wait is about 5 s; the receiver asked for two hours.
	if wait := time.Duration(*cb.NextAttempt-cb.Attempts[0].Date) * time.Millisecond; wait < 2*time.Hour-time.Minute || wait > 2*time.Hour+time.Minute {
		t.Errorf("next attempt %v after the first; want the 2 h the receiver asked for", wait)
	}
}

// TestEveryCall runs each call of both API versions once, successfully.
func TestEveryCall(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("calls", "")
	c := newClient(t, node, tn, tn.AccountID)
	before := time.Now().UnixMilli()

	a1 := c.subscribe(docA, rc.URL+"/a1")
	if a1.EntityKey != docA || a1.Callback != rc.URL+"/a1" || !strings.HasPrefix(a1.Key, "sub_") || a1.SubscriberKey != nil ||
		a1.WebhookKey != "" || a1.DateCreated < before || a1.DateCreated > time.Now().UnixMilli() || a1.DateUpdated != a1.DateCreated {
		t.Errorf("created %+v", a1)
	}
	if again := c.subscribe(docA, rc.URL+"/a1"); again.Key != a1.Key {
		t.Errorf("subscribing again to the same document and callback made %s beside %s", again.Key, a1.Key)
	}
	a2 := c.subscribe(docA, rc.URL+"/a2")
	b1 := c.subscribe(docB, rc.URL+"/b1")
	w := c.webhook(docA, rc.URL+"/w")
	if w.WebhookKey != w.Key || w.EntityKey != docA {
		t.Errorf("v1 webhook %+v", w)
	}
	// client_id and client_secret may also come in the query string of a POST.
	var viaQuery struct{ Subscription sub }
	r := c.http.Do("POST", host.Prefix+"/v0/subscriptions?"+url.Values{"client_id": {c.id}, "client_secret": {c.secret}}.Encode(),
		map[string]any{"subscription": map[string]string{"entity_key": docC, "callback": rc.URL + "/c"}})
	if r.Status != 200 || json.Unmarshal(r.Body, &struct{ Data any }{&viaQuery}) != nil || viaQuery.Subscription.EntityKey != docC {
		t.Errorf("POST with credentials in the query: %d %s", r.Status, r.Body)
	}

	var got struct{ Subscription sub }
	c.ok("GET", "/v0/subscriptions/"+a1.Key, nil, nil, &got)
	if got.Subscription != a1 {
		t.Errorf("get %+v; want %+v", got.Subscription, a1)
	}
	var gotW struct{ Webhook sub }
	c.ok("GET", "/v1/webhooks/"+w.Key, nil, nil, &gotW)
	if gotW.Webhook.Key != w.Key || gotW.Webhook.WebhookKey != w.Key {
		t.Errorf("get webhook %+v", gotW.Webhook)
	}

	keys := func(subs []sub) []string {
		var out []string
		for _, s := range subs {
			out = append(out, s.Key)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	var forA struct{ Subscriptions []sub }
	c.ok("GET", "/v0/subscriptions", url.Values{"entity_key": {docA}}, nil, &forA)
	if !slices.Equal(keys(forA.Subscriptions), sorted(a1.Key, a2.Key)) {
		t.Errorf("subscriptions for document A: %v", keys(forA.Subscriptions))
	}
	var webhooksForA struct{ Webhooks []sub }
	c.ok("GET", "/v1/webhooks", url.Values{"entity_key": {docA}}, nil, &webhooksForA)
	if !slices.Equal(keys(webhooksForA.Webhooks), sorted(w.Key)) {
		t.Errorf("webhooks for document A: %v", keys(webhooksForA.Webhooks))
	}
	var all struct{ Subscriptions []sub }
	c.ok("GET", "/v0/subscriptions", nil, nil, &all)
	if len(all.Subscriptions) != 4 {
		t.Errorf("all subscriptions: %v", keys(all.Subscriptions))
	}
	// Pages follow next_cursor.
	var seen []string
	for cursor := ""; ; {
		var page struct {
			Subscriptions []sub
			NextCursor    string `json:"next_cursor"`
		}
		c.ok("GET", "/v0/subscriptions", url.Values{"limit": {"2"}, "cursor": {cursor}}, nil, &page)
		seen = append(seen, keys(page.Subscriptions)...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	slices.Sort(seen)
	if !slices.Equal(seen, keys(all.Subscriptions)) {
		t.Errorf("paged: %v; want %v", seen, keys(all.Subscriptions))
	}

	var deleted struct{ Subscription sub }
	c.ok("DELETE", "/v0/subscriptions/"+b1.Key, nil, nil, &deleted)
	if deleted.Subscription.Key != b1.Key {
		t.Errorf("deleted %+v", deleted.Subscription)
	}
	if r := c.do("GET", "/v0/subscriptions/"+b1.Key, nil, nil); r.Status != 404 {
		t.Errorf("get after delete: %d %s", r.Status, r.Body)
	}
	var deletedW struct{ Webhook sub }
	c.ok("DELETE", "/v1/webhooks/"+w.Key, nil, nil, &deletedW)
	if deletedW.Webhook.WebhookKey != w.Key {
		t.Errorf("deleted webhook %+v", deletedW.Webhook)
	}
	var removed struct{ Subscriptions []sub }
	c.ok("DELETE", "/v0/subscriptions", url.Values{"entity_key": {docA}}, nil, &removed)
	if !slices.Equal(keys(removed.Subscriptions), sorted(a1.Key, a2.Key)) {
		t.Errorf("removed for document A: %v", keys(removed.Subscriptions))
	}
	var left struct{ Subscriptions []sub }
	c.ok("GET", "/v0/subscriptions", nil, nil, &left)
	if len(left.Subscriptions) != 1 || left.Subscriptions[0].EntityKey != docC {
		t.Errorf("left: %+v", left.Subscriptions)
	}
	w2 := c.webhook(docC, rc.URL+"/w2")
	var removedW struct{ Webhooks []sub }
	c.ok("DELETE", "/v1/webhooks", url.Values{"entity_key": {docC}}, nil, &removedW)
	if len(removedW.Webhooks) != 1 || removedW.Webhooks[0].WebhookKey != w2.Key {
		t.Errorf("v1 removed for document C: %+v", removedW.Webhooks)
	}
}

// TestCallbackLog: newest first, paginated, each with its attempts, responses cut to an excerpt.
func TestCallbackLog(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	long := strings.Repeat("é", 600)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) { return 200, nil, long })
	tn := node.NewTenant("log", "")
	c := newClient(t, node, tn, tn.AccountID)
	s := c.subscribe(docA, rc.URL)
	other := c.subscribe(docB, rc.URL)
	types := []string{"document.update", "document.status_change", "document.finalize", "document.update", "document.status_change"}
	for i, typ := range types {
		publish(t, tn, typ, docA)
		rc.WaitFor(t, i+1, 10*time.Second)
	}
	publish(t, tn, "document.update", docB)
	rc.WaitFor(t, len(types)+1, 10*time.Second)
	// The receiver has them all; wait until every outcome is recorded.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l := c.callbacks(s.Key, nil)
		done := len(l.Callbacks) == len(types)
		for _, cb := range l.Callbacks {
			done = done && cb.Status == "succeeded"
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks %+v", l.Callbacks)
		}
	}

	var all []string
	var events []string
	for cursor := ""; ; {
		l := c.callbacks(s.Key, url.Values{"limit": {"2"}, "cursor": {cursor}})
		if len(l.Callbacks) > 2 {
			t.Fatalf("a page of %d", len(l.Callbacks))
		}
		for _, cb := range l.Callbacks {
			all = append(all, cb.Key)
			events = append(events, cb.CallbackEvent)
			if cb.EntityKey != docA || len(cb.Attempts) != 1 || cb.Attempts[0].StatusCode != 200 || cb.Attempts[0].Outcome != "success" {
				t.Errorf("callback %+v", cb)
				continue
			}
			if resp := cb.Attempts[0].Response; resp != strings.Repeat("é", 500)+"…" {
				t.Errorf("response excerpt of %d characters", len([]rune(resp)))
			}
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if len(all) != len(types) || !slices.IsSortedFunc(all, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("callbacks %v: want %d, newest first", all, len(types))
	}
	want := []string{"document_status_changed", "entity_updated", "final_document_generated", "document_status_changed", "entity_updated"}
	if !slices.Equal(events, want) {
		t.Errorf("callback events %v; want %v", events, want)
	}
	if l := c.callbacks(other.Key, nil); len(l.Callbacks) != 1 || l.Callbacks[0].EntityKey != docB {
		t.Errorf("the other subscription's log: %+v", l.Callbacks)
	}
}

type errorEnvelope struct {
	Status struct {
		StatusCode int `json:"status_code"`
		Errors     []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	} `json:"status"`
	Data any `json:"data"`
}

// TestErrors: every bad call gets QuicklySign's error envelope with the status that fits, or HTTP
// 200 with the same envelope when always_use_http_status_code_200=true, and changes nothing.
func TestErrors(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("errors", "")
	c := newClient(t, node, tn, tn.AccountID)
	unbound := newClient(t, node, tn, "")
	s := c.subscribe(docA, rc.URL)
	creds := func(id, secret string) url.Values { return url.Values{"client_id": {id}, "client_secret": {secret}} }
	sub := func(m map[string]string) map[string]any {
		return map[string]any{"client_id": c.id, "client_secret": c.secret, "subscription": m}
	}
	good := map[string]string{"entity_key": docB, "callback": rc.URL}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for key, val := range good {
			m[key] = val
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name         string
		method, path string
		query        url.Values
		body         any
		status       int
		code, says   string
	}{
		{"no credentials", "GET", "/v0/subscriptions/" + s.Key, nil, nil, 401, "unauthorized", "client_id and client_secret are required"},
		{"no secret", "GET", "/v0/subscriptions", url.Values{"client_id": {c.id}}, nil, 401, "unauthorized", "required"},
		{"wrong secret", "GET", "/v0/subscriptions", creds(c.id, "nope"), nil, 401, "unauthorized", "not valid"},
		{"unknown client", "DELETE", "/v0/subscriptions/" + s.Key, creds("cli_nobody", c.secret), nil, 401, "unauthorized", "not valid"},
		{"an API key is not a client", "GET", "/v1/webhooks", creds(strings.Split(tn.Token, ".")[0], strings.Split(tn.Token, ".")[1]), nil, 401, "unauthorized", "not valid"},
		{"wrong secret in the body", "POST", "/v0/subscriptions", nil, map[string]any{"client_id": c.id, "client_secret": "nope", "subscription": good}, 401, "unauthorized", "not valid"},
		{"malformed JSON", "POST", "/v0/subscriptions", nil, `{"client_id": `, 400, "invalid_json", "malformed JSON"},
		{"empty body", "POST", "/v0/subscriptions", nil, ``, 400, "invalid_json", "empty"},
		{"body over the server's limit", "POST", "/v0/subscriptions", nil, `{"client_id": "` + strings.Repeat("x", 1<<20) + `"}`, 413, "too_large", "request body too large"},
		{"not an object", "POST", "/v0/subscriptions", nil, `[1, 2]`, 400, "invalid_json", "JSON object"},
		{"no subscription object", "POST", "/v0/subscriptions", nil, map[string]any{"client_id": c.id, "client_secret": c.secret}, 422, "validation_failed", "subscription: is required"},
		{"v1 wants a webhook object", "POST", "/v1/webhooks", nil, sub(good), 422, "validation_failed", "webhook: is required"},
		{"no entity_key", "POST", "/v0/subscriptions", nil, sub(with("entity_key", "")), 422, "validation_failed", "subscription.entity_key: is required"},
		{"no callback", "POST", "/v0/subscriptions", nil, sub(with("callback", "")), 422, "validation_failed", "subscription.callback: is required"},
		{"entity_key of the wrong type", "POST", "/v0/subscriptions", nil, map[string]any{"client_id": c.id, "client_secret": c.secret, "subscription": map[string]any{"entity_key": 7, "callback": rc.URL}}, 422, "validation_failed", "subscription.entity_key: must be a string"},
		{"callback not http", "POST", "/v0/subscriptions", nil, sub(with("callback", "ftp://example.com/cb")), 422, "validation_failed", "subscription.callback: must be an absolute http or https URL"},
		{"callback on a private network", "POST", "/v0/subscriptions", nil, sub(with("callback", "http://10.1.2.3/cb")), 422, "validation_failed", "10.0.0.0/8"},
		{"entity_key too long", "POST", "/v0/subscriptions", nil, sub(with("entity_key", strings.Repeat("k", 513))), 422, "validation_failed", "subscription.entity_key: is at most 512"},
		{"client without an account", "POST", "/v0/subscriptions", nil, map[string]any{"client_id": unbound.id, "client_secret": unbound.secret, "subscription": good}, 403, "forbidden", "not bound to an account"},
		{"unknown key", "GET", "/v0/subscriptions/sub_nothing", creds(c.id, c.secret), nil, 404, "not_found", `no subscription with key \"sub_nothing\"`},
		{"unknown webhook", "GET", "/v1/webhooks/sub_nothing", creds(c.id, c.secret), nil, 404, "not_found", `no webhook with key \"sub_nothing\"`},
		{"delete an unknown key", "DELETE", "/v0/subscriptions/sub_nothing", creds(c.id, c.secret), nil, 404, "not_found", "sub_nothing"},
		{"callbacks of an unknown key", "GET", "/v0/subscriptions/sub_nothing/callbacks", creds(c.id, c.secret), nil, 404, "not_found", "sub_nothing"},
		{"delete all without entity_key", "DELETE", "/v0/subscriptions", creds(c.id, c.secret), nil, 422, "validation_failed", "entity_key: is required"},
		{"limit out of range", "GET", "/v0/subscriptions", url.Values{"client_id": {c.id}, "client_secret": {c.secret}, "limit": {"500"}}, nil, 422, "validation_failed", "limit: must be a number from 1 to 200"},
		{"callbacks limit not a number", "GET", "/v0/subscriptions/" + s.Key + "/callbacks", url.Values{"client_id": {c.id}, "client_secret": {c.secret}, "limit": {"x"}}, nil, 422, "validation_failed", "limit"},
		{"no such route", "GET", "/v0/documents", creds(c.id, c.secret), nil, 404, "not_found", "Not Found"},
		{"method not allowed", "PUT", "/v0/subscriptions/" + s.Key, creds(c.id, c.secret), nil, 405, "method_not_allowed", "PUT is not allowed here; use GET, DELETE"},
	}
	before := snapshot(t, tn)
	for _, tt := range cases {
		for _, switched := range []bool{false, true} {
			q := url.Values{}
			for k, v := range tt.query {
				q[k] = v
			}
			if switched {
				q.Set("always_use_http_status_code_200", "true")
			}
			target := host.Prefix + tt.path
			if len(q) > 0 {
				target += "?" + q.Encode()
			}
			r := c.http.Do(tt.method, target, tt.body)
			var env errorEnvelope
			if err := json.Unmarshal(r.Body, &env); err != nil {
				t.Errorf("%s: %d %s: %v", tt.name, r.Status, r.Body, err)
				continue
			}
			wantHTTP := tt.status
			if switched {
				wantHTTP = 200
			}
			if r.Status != wantHTTP || env.Status.StatusCode != tt.status || len(env.Status.Errors) != 1 ||
				env.Status.Errors[0].Code != tt.code || !strings.Contains(string(r.Body), tt.says) || env.Data != nil {
				t.Errorf("%s (HTTP 200 switch %v): %d %s\nwant HTTP %d, status_code %d, %s mentioning %q", tt.name, switched, r.Status, r.Body, wantHTTP, tt.status, tt.code, tt.says)
			}
		}
	}
	// The switch may also come in a POST's body, where QuicklySign's clients put their other
	// parameters; a string "true" counts.
	for _, v := range []any{true, "true"} {
		r := c.http.Do("POST", host.Prefix+"/v0/subscriptions", map[string]any{"client_id": c.id, "client_secret": "nope", "subscription": good, "always_use_http_status_code_200": v})
		var env errorEnvelope
		if r.Status != 200 || json.Unmarshal(r.Body, &env) != nil || env.Status.StatusCode != 401 {
			t.Errorf("switch %v in the body: %d %s", v, r.Status, r.Body)
		}
	}
	if after := snapshot(t, tn); after != before {
		t.Errorf("bad calls changed what is stored:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot is the app's subscriptions as the native API shows them.
func snapshot(t *testing.T, tn *nodetest.Tenant) string {
	t.Helper()
	r := tn.App.MustDo("GET", "/v1/subscriptions?limit=200", nil, http.StatusOK, nil)
	return string(r.Body)
}

// TestClientsAreIsolated: one client's subscriptions, and their callback logs, are invisible to
// another app's client and to a client of the same app bound to another account; a client of the
// whole app (unbound) sees its app's subscriptions in every account.
func TestClientsAreIsolated(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(answer(200))
	owner := node.NewTenant("owner", "")
	stranger := node.NewTenant("stranger", "")
	c := newClient(t, node, owner, owner.AccountID)
	otherApp := newClient(t, node, stranger, stranger.AccountID)
	otherApp2 := newClient(t, node, stranger, owner.AccountID) // another app, granted the same account
	otherAccount := newClient(t, node, owner, stranger.AccountID)
	wholeApp := newClient(t, node, owner, "")
	s := c.subscribe(docA, rc.URL)
	publish(t, owner, "document.update", docA)
	waitForCallback(t, c, s.Key, "succeeded", 1)
	theirs := otherApp2.subscribe(docA, rc.URL)

	for name, o := range map[string]*client{"another app": otherApp, "another app, same account": otherApp2, "the same app, another account": otherAccount} {
		for _, call := range []struct{ method, path string }{
			{"GET", "/v0/subscriptions/" + s.Key},
			{"GET", "/v1/webhooks/" + s.Key},
			{"GET", "/v0/subscriptions/" + s.Key + "/callbacks"},
			{"DELETE", "/v0/subscriptions/" + s.Key},
			{"DELETE", "/v1/webhooks/" + s.Key},
		} {
			r := o.do(call.method, call.path, nil, nil)
			if r.Status != 404 || strings.Contains(string(r.Body), rc.URL) {
				t.Errorf("%s: %s %s: %d %s", name, call.method, call.path, r.Status, r.Body)
			}
		}
		var list struct{ Subscriptions []sub }
		o.ok("GET", "/v0/subscriptions", url.Values{"entity_key": {docA}}, nil, &list)
		for _, x := range list.Subscriptions {
			if x.Key == s.Key {
				t.Errorf("%s lists the owner's subscription", name)
			}
		}
		var removed struct{ Subscriptions []sub }
		o.ok("DELETE", "/v0/subscriptions", url.Values{"entity_key": {docA}}, nil, &removed)
		for _, x := range removed.Subscriptions {
			if x.Key == s.Key {
				t.Errorf("%s removed the owner's subscription", name)
			}
		}
	}
	var still struct{ Subscription sub }
	c.ok("GET", "/v0/subscriptions/"+s.Key, nil, nil, &still)
	if still.Subscription.Key != s.Key {
		t.Fatalf("the owner's subscription: %+v", still.Subscription)
	}
	// The stranger's own removal by entity removed its own subscription only.
	if r := c.do("GET", "/v0/subscriptions/"+theirs.Key, nil, nil); r.Status != 404 {
		t.Errorf("the owner sees another app's subscription: %d %s", r.Status, r.Body)
	}
	// A client of the whole app reads its app's subscriptions, whatever their account.
	var seen struct{ Subscription sub }
	wholeApp.ok("GET", "/v0/subscriptions/"+s.Key, nil, nil, &seen)
	if l := wholeApp.callbacks(s.Key, nil); len(l.Callbacks) != 1 {
		t.Errorf("the app's client sees %d callbacks", len(l.Callbacks))
	}
	// Subscriptions of other formats are not QuicklySign's to show.
	var std struct{ ID string }
	owner.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": owner.AccountID, "format": "standard", "events": []string{"*"}, "url": rc.URL}, http.StatusCreated, &std)
	if r := c.do("GET", "/v0/subscriptions/"+std.ID, nil, nil); r.Status != 404 {
		t.Errorf("a standard subscription through the QuicklySign API: %d %s", r.Status, r.Body)
	}
}

// TestGoldenEnvelopes pins every byte of one envelope of each kind: a v0 subscription, a v1
// webhook, a list, the callback log, and an error. The clock stands still, so times are fixed;
// keys are replaced by placeholders. checkEnvelopeGolden checks each golden against the document.
func TestGoldenEnvelopes(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(n int, _ *nodetest.Request) (int, http.Header, string) { return 200, nil, `{"received": true}` })
	tn := node.NewTenant("golden", "")
	c := newClient(t, node, tn, tn.AccountID)
	s := c.subscribe(docA, rc.URL+"/v0/test_callback")
	w := c.webhook(docB, rc.URL+"/v1/test_callback")
	publish(t, tn, "document.status_change", docA)
	l := waitForCallback(t, c, s.Key, "succeeded", 1)
	names := map[string]string{s.Key: "{{subscription_key}}", w.Key: "{{webhook_key}}", l.Callbacks[0].Key: "{{delivery_key}}"}
	ids := regexp.MustCompile(`(sub|dlv)_[0-9a-z]{26}`)
	placeholders := func(body string) string {
		body = strings.ReplaceAll(body, rc.URL, "{{receiver}}")
		return ids.ReplaceAllStringFunc(body, func(id string) string {
			if name, known := names[id]; known {
				return name
			}
			return "{{new_key}}"
		})
	}

	for _, g := range []struct {
		file   string
		method string
		path   string
		query  url.Values
		body   map[string]any
	}{
		{"subscription_v0.golden", "POST", "/v0/subscriptions", nil, map[string]any{"subscription": map[string]string{"entity_key": docC, "callback": rc.URL + "/v0/test_callback"}}},
		{"webhook_v1.golden", "GET", "/v1/webhooks/" + w.Key, nil, nil},
		{"list_v0.golden", "GET", "/v0/subscriptions", url.Values{"entity_key": {docA}}, nil},
		{"callbacks.golden", "GET", "/v0/subscriptions/" + s.Key + "/callbacks", nil, nil},
		{"error.golden", "GET", "/v0/subscriptions/sub_01nosuchkey", nil, nil},
	} {
		r := c.do(g.method, g.path, g.query, g.body)
		got := fmt.Sprintf("HTTP %d\n%s", r.Status, placeholders(string(r.Body)))
		file := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s changed:\n%s\nwant:\n%s", g.file, got, want)
		}
		checkEnvelopeGolden(t, file, g.query.Get("entity_key"))
	}
}
