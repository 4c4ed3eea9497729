package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestPerEntitySubscriptions: through the native API, a subscription that names an entity_key
// receives that entity's events only, one without receives every entity's, and moving the key
// with PATCH moves what arrives.
func TestPerEntitySubscriptions(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	one, all := nodetest.NewReceiver(t), nodetest.NewReceiver(t)
	tn := node.NewTenant("entity", "")
	keyed := subscribe(t, tn, one.URL, map[string]any{"entity_key": "42"})
	subscribe(t, tn, all.URL, nil)

	entity := func(id string) map[string]any {
		return map[string]any{"entity": map[string]string{"type": "client", "id": id}, "data": map[string]string{"id": id}}
	}
	for id, want := range map[string]int{"42": 2, "7": 1, "420": 1} {
		if p := publish(t, tn, entity(id)); p.Deliveries != want {
			t.Errorf("an event for client %s made %d deliveries; want %d", id, p.Deliveries, want)
		}
	}
	all.WaitFor(t, 3, 10*time.Second)
	got := one.WaitFor(t, 1, 10*time.Second)
	tn.App.MustDo("PATCH", "/v1/subscriptions/"+keyed.ID, map[string]any{"entity_key": "7"}, http.StatusOK, nil)
	publish(t, tn, entity("42"))
	publish(t, tn, entity("7"))
	all.WaitFor(t, 5, 10*time.Second)
	got = one.WaitFor(t, 2, 10*time.Second)

	var ids []string
	for _, r := range got {
		var payload struct{ Data struct{ ID string } }
		if err := json.Unmarshal(r.Body, &payload); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, payload.Data.ID)
	}
	if !slices.Equal(ids, []string{"42", "7"}) {
		t.Errorf("the keyed subscription received clients %v; want 42, then 7 after its key moved", ids)
	}
	// Every event has been routed and the wide receiver has all five; the keyed one had no more.
	if n := len(one.Requests()); n != 2 {
		t.Errorf("the keyed receiver got %d requests", n)
	}
	var l listOf[subscription]
	tn.App.MustDo("GET", "/v1/subscriptions?entity_key=7", nil, http.StatusOK, &l)
	if len(l.Data) != 1 || l.Data[0].ID != keyed.ID {
		t.Errorf("subscriptions for entity 7: %+v", l.Data)
	}
}
