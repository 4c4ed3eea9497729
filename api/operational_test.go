package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// TestOperationalEvents: the operator grants an app the system account's events and subscribes
// it, as for any account. A tenant's delivery that dies is reported as delivery.dead, and a tenant's
// subscription its receiver disabled (410 Gone) as subscription.disabled, each delivered to the
// operator's receiver in the Standard Webhooks format with what happened. No tenant may make an
// account in the system's name.
func TestOperationalEvents(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	ops := nodetest.NewReceiver(t)
	var app struct{ ID string }
	n.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": "operators"}, http.StatusCreated, &app)
	n.Grant(engine.SystemAccount, app.ID, "delivery.*", "subscription.*", "plugin.*")
	key := n.Credential(app.ID, engine.NewCredential{Kind: engine.CredentialAPIKey, AccountID: engine.SystemAccount})
	n.Client(key.Token).MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": engine.SystemAccount, "format": "standard",
		"events": []string{"*"}, "url": ops.URL}, http.StatusCreated, nil)

	tn := n.NewTenant("ops", "")
	failing := nodetest.NewReceiver(t)
	failing.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) { return http.StatusServiceUnavailable, nil, "" })
	gone := nodetest.NewReceiver(t)
	gone.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) { return http.StatusGone, nil, "" })
	dying := subscribe(t, tn, failing.URL, map[string]any{"retry_policy": map[string]any{"schedule": []string{"100ms"}}})
	goneSub := subscribe(t, tn, gone.URL, nil)
	publish(t, tn, nil)

	got := map[string]map[string]any{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("operational events received: %v; want delivery.dead and subscription.disabled", got)
		}
		for _, r := range ops.Requests() {
			var ev struct {
				Type string         `json:"type"`
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(r.Body, &ev); err != nil {
				t.Fatalf("an operational event that is not JSON: %s", r.Body)
			}
			got[ev.Type] = ev.Data
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := got[engine.EventDeliveryDead]; d["subscription_id"] != dying.ID || d["account_id"] != tn.AccountID || d["last_status"] != float64(http.StatusServiceUnavailable) {
		t.Errorf("delivery.dead: %v; want subscription %s of account %s, last status 503", d, dying.ID, tn.AccountID)
	}
	if d := got[engine.EventSubscriptionDisabled]; d["subscription_id"] != goneSub.ID || d["reason"] == "" {
		t.Errorf("subscription.disabled: %v; want subscription %s with a reason", d, goneSub.ID)
	}
	n.Admin.MustDo("POST", "/v1/accounts", map[string]any{"id": "switchyard.mine", "name": "impostor"}, http.StatusUnprocessableEntity, nil)
}
