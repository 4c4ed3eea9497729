package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestSendExample: an app sends an example event to its subscription, which its receiver gets
// through the real path (shaped and signed by the format's plugin) and no other subscription of
// the account does; a type the subscription does not take is 422, another app's subscription 404,
// a disabled one 409.
func TestSendExample(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	rc, bystander := nodetest.NewReceiver(t), nodetest.NewReceiver(t)
	tn, other := n.NewTenant("example", ""), n.NewTenant("example-other", "")
	sub := subscribe(t, tn, rc.URL, nil)
	// Another app granted the same account, listening for everything: it gets no example.
	n.Grant(tn.AccountID, other.AppID, "*")
	otherSub := subscribe(t, &nodetest.Tenant{AccountID: tn.AccountID, AppID: other.AppID, App: other.App}, bystander.URL, map[string]any{"events": []string{"*"}})

	var d delivery
	tn.App.MustDo("POST", "/v1/subscriptions/"+sub.ID+"/example", map[string]string{"type": "client.update"}, http.StatusAccepted, &d)
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	var body struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("the receiver got %s: %v", got.Body, err)
	}
	if body.Type != "client.update" || body.Data["example"] != true || got.Header.Get("webhook-id") != d.ID || got.Header.Get("webhook-signature") == "" {
		t.Errorf("the receiver got %s with headers %v", got.Body, got.Header)
	}
	deliveryOf(t, tn, d.EventID, "succeeded")
	time.Sleep(300 * time.Millisecond)
	if n := len(bystander.Requests()); n != 0 {
		t.Errorf("another subscription of the account got %d requests", n)
	}

	if r := tn.App.Do("POST", "/v1/subscriptions/"+sub.ID+"/example", map[string]string{"type": "invoice.create"}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("a type the subscription does not take: %d %s", r.Status, r.Body)
	}
	if r := tn.App.Do("POST", "/v1/subscriptions/"+sub.ID+"/example", map[string]string{}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("no type: %d %s", r.Status, r.Body)
	}
	if r := tn.App.Do("POST", "/v1/subscriptions/"+otherSub.ID+"/example", map[string]string{"type": "client.create"}); r.Status != http.StatusNotFound {
		t.Errorf("another app's subscription: %d %s", r.Status, r.Body)
	}
	tn.App.MustDo("PATCH", "/v1/subscriptions/"+sub.ID, map[string]string{"state": "disabled"}, http.StatusOK, nil)
	if r := tn.App.Do("POST", "/v1/subscriptions/"+sub.ID+"/example", map[string]string{"type": "client.create"}); r.Status != http.StatusConflict {
		t.Errorf("a disabled subscription: %d %s", r.Status, r.Body)
	}
}
