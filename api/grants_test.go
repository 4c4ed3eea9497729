package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// Issue 15, finding 6: an app's key that no account granted reached every account. These tests
// hold two accounts, A and B, and two apps: X, the intruder, whose keys are bound to no account,
// and Y, which account B granted its events and which subscribes to B.

// grant is a grant as the API shows it (declared here, not taken from engine, so that the tests
// build against a version without grants and fail there).
type grant struct {
	ID        string     `json:"id"`
	AppID     string     `json:"app_id"`
	AccountID string     `json:"account_id"`
	Events    []string   `json:"events"`
	RevokedAt *time.Time `json:"revoked_at"`
}

type grantWorld struct {
	node       *nodetest.Node
	a, b       string // account IDs
	x, y       string // app IDs
	yRecv      *nodetest.Receiver
	ySub       string
	adminPubsB func(t *testing.T, typ, marker string) engine.Published
}

func newGrantWorld(t *testing.T) *grantWorld {
	t.Helper()
	node := nodetest.Start(t, nodetest.Options{})
	w := &grantWorld{node: node, yRecv: nodetest.NewReceiver(t)}
	var acct engine.Account
	node.Admin.MustDo("POST", "/v1/accounts", map[string]string{"name": "A"}, http.StatusCreated, &acct)
	w.a = acct.ID
	node.Admin.MustDo("POST", "/v1/accounts", map[string]string{"name": "B"}, http.StatusCreated, &acct)
	w.b = acct.ID
	var app engine.App
	node.Admin.MustDo("POST", "/v1/apps", map[string]string{"name": "X"}, http.StatusCreated, &app)
	w.x = app.ID
	node.Admin.MustDo("POST", "/v1/apps", map[string]string{"name": "Y"}, http.StatusCreated, &app)
	w.y = app.ID

	// Not MustDo: what the tests below assert is what fails on a version without grants.
	if r := node.Admin.Do("POST", "/v1/accounts/"+w.b+"/grants", map[string]any{"app_id": w.y, "events": []string{"*"}}); r.Status != http.StatusCreated {
		t.Errorf("granting Y account B's events: %d %s", r.Status, r.Body)
	}
	yKey := node.Credential(w.y, engine.NewCredential{Kind: engine.CredentialAPIKey})
	var sub subscription
	node.Client(yKey.Token).MustDo("POST", "/v1/subscriptions", map[string]any{
		"account_id": w.b, "format": "standard", "events": []string{"client.*"}, "url": w.yRecv.URL + "/y",
	}, http.StatusCreated, &sub)
	w.ySub = sub.ID
	w.adminPubsB = func(t *testing.T, typ, marker string) engine.Published {
		t.Helper()
		var p engine.Published
		node.Admin.MustDo("POST", "/v1/events", map[string]any{"account_id": w.b, "type": typ,
			"entity": map[string]string{"type": "client", "id": "1"}, "data": map[string]string{"marker": marker}}, http.StatusAccepted, &p)
		return p
	}
	return w
}

// TestUnboundPublishKeyPublishesNowhere: X's events:publish key, bound to no account and not
// issued for all accounts, neither publishes into B nor reads B's events back.
func TestUnboundPublishKeyPublishesNowhere(t *testing.T) {
	t.Parallel()
	w := newGrantWorld(t)
	x := w.node.Client(w.node.Credential(w.x, engine.NewCredential{Kind: engine.CredentialAPIKey, Scopes: []string{engine.ScopePublish}}).Token)

	planted := map[string]any{"account_id": w.b, "type": "client.create", "entity": map[string]string{"type": "client", "id": "9"}, "data": map[string]string{"marker": "planted-by-x"}}
	if r := x.Do("POST", "/v1/events", planted); r.Status != http.StatusForbidden {
		t.Errorf("X's unbound key publishing into B: %d %s; want 403", r.Status, r.Body)
	}
	if r := x.Do("POST", "/v1/events/batch", map[string]any{"events": []any{planted}}); r.Status != http.StatusForbidden {
		t.Errorf("X's unbound key publishing a batch into B: %d %s; want 403", r.Status, r.Body)
	}
	own := map[string]any{"account_id": w.a, "type": "client.create", "entity": map[string]string{"type": "client", "id": "9"}}
	if r := x.Do("POST", "/v1/events", own); r.Status != http.StatusForbidden {
		t.Errorf("X's unbound key publishing into A: %d %s; want 403: it was issued for no account", r.Status, r.Body)
	}

	// B's own event reaches Y, and only Y's; X cannot read it back.
	ev := w.adminPubsB(t, "client.create", "b-secret-data")
	if ev.Deliveries != 1 {
		t.Errorf("B's event made %d deliveries, want 1 (Y's)", ev.Deliveries)
	}
	got := w.yRecv.WaitFor(t, 1, 15*time.Second)
	if len(got) != 1 || !bytes.Contains(got[0].Body, []byte("b-secret-data")) {
		t.Fatalf("Y's receiver got %d requests; want B's event alone, not X's planted one", len(got))
	}
	r := x.Do("GET", "/v1/events/"+ev.ID, nil)
	if r.Status != http.StatusNotFound || bytes.Contains(r.Body, []byte("b-secret-data")) {
		t.Errorf("X's unbound key reading B's event: %d %s; want 404", r.Status, r.Body)
	}
	// A key bound to A publishes into A, not into B, and reads A's events only.
	bound := w.node.Client(w.node.Credential(w.x, engine.NewCredential{Kind: engine.CredentialAPIKey, AccountID: w.a, Scopes: []string{engine.ScopePublish}}).Token)
	bound.MustDo("POST", "/v1/events", own, http.StatusAccepted, nil)
	if r := bound.Do("POST", "/v1/events", planted); r.Status != http.StatusForbidden {
		t.Errorf("X's key bound to A publishing into B: %d %s; want 403", r.Status, r.Body)
	}
	if r := bound.Do("GET", "/v1/events/"+ev.ID, nil); r.Status != http.StatusNotFound {
		t.Errorf("X's key bound to A reading B's event: %d %s; want 404", r.Status, r.Body)
	}
}

// TestAllAccountsPublisher: the operator may issue a platform backend's key that publishes into
// every account, but only by asking for it.
func TestAllAccountsPublisher(t *testing.T) {
	t.Parallel()
	w := newGrantWorld(t)
	var issued struct {
		Token       string `json:"token"`
		AllAccounts bool   `json:"all_accounts"`
	}
	w.node.Admin.MustDo("POST", "/v1/apps/"+w.x+"/credentials", map[string]any{"kind": "api_key", "scopes": []string{"events:publish"}, "all_accounts": true}, http.StatusCreated, &issued)
	if !issued.AllAccounts {
		t.Errorf("the issued credential does not say all_accounts: %+v", issued)
	}
	platform := w.node.Client(issued.Token)
	for _, acct := range []string{w.a, w.b} {
		var p engine.Published
		platform.MustDo("POST", "/v1/events", map[string]any{"account_id": acct, "type": "client.create", "entity": map[string]string{"type": "client", "id": "5"}}, http.StatusAccepted, &p)
		var ev engine.Event
		platform.MustDo("GET", "/v1/events/"+p.ID, nil, http.StatusOK, &ev)
		if ev.AccountID != acct {
			t.Errorf("read back an event of %s, want %s", ev.AccountID, acct)
		}
	}
	w.yRecv.WaitFor(t, 1, 15*time.Second)

	for name, body := range map[string]map[string]any{
		"with an account":       {"kind": "api_key", "scopes": []string{"events:publish"}, "all_accounts": true, "account_id": w.a},
		"without publish scope": {"kind": "api_key", "all_accounts": true},
	} {
		r := w.node.Admin.Do("POST", "/v1/apps/"+w.x+"/credentials", body)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "all_accounts") {
			t.Errorf("all_accounts %s: %d %s; want 422 naming all_accounts", name, r.Status, r.Body)
		}
	}
	// Only the operator issues credentials at all.
	if r := platform.Do("POST", "/v1/apps/"+w.x+"/credentials", map[string]any{"kind": "api_key", "scopes": []string{"events:publish"}, "all_accounts": true}); r.Status != http.StatusForbidden {
		t.Errorf("an app issuing itself an all_accounts key: %d %s; want 403", r.Status, r.Body)
	}
}

// TestGrantLimitsSubscriptions: X's key without a scope or an account subscribes to B only once B
// granted X, and only to the events granted; revoking the grant disables the subscription, and
// later events are not delivered to it.
func TestGrantLimitsSubscriptions(t *testing.T) {
	t.Parallel()
	w := newGrantWorld(t)
	xRecv := nodetest.NewReceiver(t)
	x := w.node.Client(w.node.Credential(w.x, engine.NewCredential{Kind: engine.CredentialAPIKey}).Token)
	subTo := func(events ...string) map[string]any {
		return map[string]any{"account_id": w.b, "format": "standard", "events": events, "url": xRecv.URL + "/x"}
	}

	r := x.Do("POST", "/v1/subscriptions", subTo("client.*"))
	if r.Status != http.StatusForbidden || r.ErrorCode() != "forbidden" {
		t.Fatalf("X subscribing to B without a grant: %d %s; want 403", r.Status, r.Body)
	}

	// Bad grants harm nothing.
	for name, body := range map[string]any{
		"no app":        map[string]any{"events": []string{"*"}},
		"unknown app":   map[string]any{"app_id": "app_missing", "events": []string{"*"}},
		"no events":     map[string]any{"app_id": w.x},
		"bad pattern":   map[string]any{"app_id": w.x, "events": []string{"Client.Create"}},
		"unknown field": map[string]any{"app_id": w.x, "events": []string{"*"}, "scopes": []string{"x"}},
	} {
		if r := w.node.Admin.Do("POST", "/v1/accounts/"+w.b+"/grants", body); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("grant with %s: %d %s; want 422", name, r.Status, r.Body)
		}
	}
	if r := w.node.Admin.Do("POST", "/v1/accounts/acc_missing/grants", map[string]any{"app_id": w.x, "events": []string{"*"}}); r.Status != http.StatusNotFound {
		t.Errorf("grant in a missing account: %d %s; want 404", r.Status, r.Body)
	}
	if r := x.Do("POST", "/v1/accounts/"+w.b+"/grants", map[string]any{"app_id": w.x, "events": []string{"*"}}); r.Status != http.StatusForbidden {
		t.Errorf("X granting itself: %d %s; want 403", r.Status, r.Body)
	}

	var granted grant
	w.node.Admin.MustDo("POST", "/v1/accounts/"+w.b+"/grants", map[string]any{"app_id": w.x, "events": []string{"client.*"}}, http.StatusCreated, &granted)
	if granted.AppID != w.x || granted.AccountID != w.b || len(granted.Events) != 1 || granted.Events[0] != "client.*" {
		t.Fatalf("the grant: %+v", granted)
	}
	if r := w.node.Admin.Do("POST", "/v1/accounts/"+w.b+"/grants", map[string]any{"app_id": w.x, "events": []string{"*"}}); r.Status != http.StatusConflict {
		t.Errorf("a second grant of X in B: %d %s; want 409", r.Status, r.Body)
	}
	var grants listOf[grant]
	w.node.Admin.MustDo("GET", "/v1/accounts/"+w.b+"/grants", nil, http.StatusOK, &grants)
	if len(grants.Data) != 2 {
		t.Errorf("B's grants: %+v; want Y's and X's", grants.Data)
	}

	for _, events := range [][]string{{"*"}, {"invoice.*"}, {"*.create"}, {"client.create", "document.update"}} {
		if r := x.Do("POST", "/v1/subscriptions", subTo(events...)); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "client.*") {
			t.Errorf("X subscribing to %v beyond its grant: %d %s; want 403 naming what was granted", events, r.Status, r.Body)
		}
	}
	if r := x.Do("POST", "/v1/subscriptions", subTo("client.create")); r.Status != http.StatusCreated {
		t.Errorf("X subscribing to client.create within client.*: %d %s", r.Status, r.Body)
	}
	var sub subscription
	x.MustDo("POST", "/v1/subscriptions", subTo("client.*"), http.StatusCreated, &sub)
	if r := x.Do("PATCH", "/v1/subscriptions/"+sub.ID, map[string]any{"events": []string{"*"}}); r.Status != http.StatusForbidden {
		t.Errorf("X widening its subscription beyond the grant: %d %s; want 403", r.Status, r.Body)
	}
	// The grant lets X subscribe, not publish.
	if r := x.Do("POST", "/v1/events", map[string]any{"account_id": w.b, "type": "client.create", "entity": map[string]string{"type": "client", "id": "1"}}); r.Status != http.StatusForbidden {
		t.Errorf("X publishing into B with a grant: %d %s; want 403", r.Status, r.Body)
	}

	first := w.adminPubsB(t, "client.create", "before-revoke")
	if first.Deliveries != 3 {
		t.Errorf("the first event made %d deliveries, want 3 (Y's, and X's two)", first.Deliveries)
	}
	xRecv.WaitFor(t, 2, 15*time.Second)
	var dels listOf[engine.Delivery]
	x.MustDo("GET", "/v1/deliveries?subscription_id="+sub.ID, nil, http.StatusOK, &dels)
	if len(dels.Data) != 1 {
		t.Fatalf("X's deliveries of its subscription to B: %+v; want 1", dels.Data)
	}
	dlv := dels.Data[0].ID
	x.MustDo("GET", "/v1/deliveries/"+dlv, nil, http.StatusOK, nil)

	var revoked struct {
		Grant    grant    `json:"grant"`
		Disabled []string `json:"disabled_subscriptions"`
	}
	w.node.Admin.MustDo("DELETE", "/v1/accounts/"+w.b+"/grants/"+granted.ID, nil, http.StatusOK, &revoked)
	if revoked.Grant.RevokedAt == nil || len(revoked.Disabled) != 2 {
		t.Errorf("revoking: %+v; want the grant revoked and X's two subscriptions disabled", revoked)
	}
	if r := w.node.Admin.Do("DELETE", "/v1/accounts/"+w.b+"/grants/"+granted.ID, nil); r.Status != http.StatusConflict {
		t.Errorf("revoking twice: %d %s; want 409", r.Status, r.Body)
	}
	if r := w.node.Admin.Do("DELETE", "/v1/accounts/"+w.a+"/grants/"+granted.ID, nil); r.Status != http.StatusNotFound {
		t.Errorf("revoking B's grant through A: %d %s; want 404", r.Status, r.Body)
	}
	var got engine.Subscription
	x.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &got)
	if got.State != engine.SubscriptionDisabled || !strings.Contains(got.DisabledReason, granted.ID) {
		t.Errorf("X's subscription after the revocation: state %s, reason %q; want disabled, naming the grant", got.State, got.DisabledReason)
	}
	var ys engine.Subscription
	w.node.Admin.MustDo("GET", "/v1/subscriptions/"+w.ySub, nil, http.StatusOK, &ys)
	if ys.State != engine.SubscriptionActive {
		t.Errorf("Y's subscription after X's grant was revoked: %s", ys.State)
	}

	// Later events reach Y, and nothing is made for X.
	second := w.adminPubsB(t, "client.update", "after-revoke")
	if second.Deliveries != 1 {
		t.Errorf("the event after the revocation made %d deliveries, want 1 (Y's)", second.Deliveries)
	}
	w.yRecv.WaitFor(t, 2, 15*time.Second)
	for _, req := range xRecv.Requests() {
		if bytes.Contains(req.Body, []byte("after-revoke")) {
			t.Errorf("X's receiver got an event published after the revocation: %s", req.Body)
		}
	}

	// Without the grant, X neither brings the subscription back nor sees the deliveries.
	if r := x.Do("PATCH", "/v1/subscriptions/"+sub.ID, map[string]any{"state": "active"}); r.Status != http.StatusForbidden {
		t.Errorf("X re-enabling its subscription: %d %s; want 403", r.Status, r.Body)
	}
	if r := x.Do("POST", "/v1/subscriptions/"+sub.ID+"/replay", map[string]any{"since": "2000-01-01T00:00:00Z"}); r.Status != http.StatusForbidden {
		t.Errorf("X replaying its subscription: %d %s; want 403", r.Status, r.Body)
	}
	if r := x.Do("POST", "/v1/subscriptions", subTo("client.*")); r.Status != http.StatusForbidden {
		t.Errorf("X subscribing again: %d %s; want 403", r.Status, r.Body)
	}
	x.MustDo("GET", "/v1/deliveries", nil, http.StatusOK, &dels)
	if len(dels.Data) != 0 {
		t.Errorf("X's deliveries after the revocation: %+v; want none", dels.Data)
	}
	for _, path := range []string{"/v1/deliveries/" + dlv, "/v1/deliveries/" + dlv + "/retry"} {
		method := "GET"
		if strings.HasSuffix(path, "retry") {
			method = "POST"
		}
		if r := x.Do(method, path, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s %s after the revocation: %d %s; want 404", method, path, r.Status, r.Body)
		}
	}
	// X may still remove what it made.
	x.MustDo("DELETE", "/v1/subscriptions/"+sub.ID, nil, http.StatusNoContent, nil)
}
