package api_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// TestDeliveryFilters: the deliveries list narrows by account, event type and when the delivery
// was made, together with the other filters; a bad time is 422; a credential bound to one account
// naming another is 403.
func TestDeliveryFilters(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := n.NewTenant("filters", "")
	var other engine.Account
	n.Admin.MustDo("POST", "/v1/accounts", map[string]any{"name": "filters other"}, http.StatusCreated, &other)
	n.Grant(other.ID, tn.AppID, "*")
	subscribe(t, tn, rc.URL, map[string]any{"events": []string{"*"}})
	subscribe(t, tn, rc.URL, map[string]any{"events": []string{"*"}, "account_id": other.ID})
	start := time.Now().Add(-time.Second)
	publish(t, tn, nil)
	publish(t, tn, map[string]any{"type": "invoice.create", "entity": map[string]string{"type": "invoice", "id": "7"}})
	publish(t, tn, map[string]any{"account_id": other.ID})
	rc.WaitFor(t, 3, 15*time.Second)

	count := func(c *nodetest.Client, query string) int {
		t.Helper()
		var l listOf[delivery]
		c.MustDo("GET", "/v1/deliveries?"+query, nil, http.StatusOK, &l)
		return len(l.Data)
	}
	later := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	for query, want := range map[string]int{
		"":                           3,
		"account_id=" + other.ID:     1,
		"account_id=" + tn.AccountID: 2,
		"type=invoice.create":        1,
		"type=client.create&account_id=" + tn.AccountID:            1,
		"since=" + url.QueryEscape(start.Format(time.RFC3339Nano)): 3,
		"since=" + later: 0,
		"until=" + later: 3,
		"until=" + url.QueryEscape(start.Format(time.RFC3339Nano)) + "&type=client.create": 0,
	} {
		if got := count(tn.App, query); got != want {
			t.Errorf("?%s: %d deliveries, want %d", query, got, want)
		}
	}
	if r := tn.App.Do("GET", "/v1/deliveries?since=yesterday", nil); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("a bad time: %d %s", r.Status, r.Body)
	}
	bound := n.Credential(tn.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey, AccountID: tn.AccountID})
	boundClient := n.Client(bound.Token)
	if got := count(boundClient, "account_id="+tn.AccountID); got != 2 {
		t.Errorf("a bound credential sees %d of its account's deliveries, want 2", got)
	}
	if r := boundClient.Do("GET", "/v1/deliveries?account_id="+other.ID, nil); r.Status != http.StatusForbidden {
		t.Errorf("a bound credential named another account: %d %s", r.Status, r.Body)
	}
}
