package api_test

import (
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestEventSource: an event may say how its change came about ({"type": "api", "info": {...}});
// it is kept and read back, and a malformed one is refused naming the field, storing nothing.
func TestEventSource(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	tn := node.NewTenant("source", "https://app.example")
	ev := func(source any) map[string]any {
		return map[string]any{"account_id": tn.AccountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "1"},
			"data": map[string]any{"id": 1}, "source": source}
	}
	var p struct{ ID string }
	node.Admin.MustDo("POST", "/v1/events", ev(map[string]any{"type": "api", "info": map[string]any{"apiKey": "crm-sync"}}), http.StatusAccepted, &p)
	var got struct {
		Source struct {
			Type string
			Info map[string]any
		}
	}
	node.Admin.MustDo("GET", "/v1/events/"+p.ID, nil, http.StatusOK, &got)
	if got.Source.Type != "api" || got.Source.Info["apiKey"] != "crm-sync" {
		t.Errorf("source read back: %+v", got.Source)
	}
	for _, bad := range []any{
		map[string]any{},
		map[string]any{"type": "API"},
		map[string]any{"type": "api", "info": "key"},
		map[string]any{"type": "api", "info": []int{1}},
		"api",
	} {
		node.Admin.MustDo("POST", "/v1/events", ev(bad), http.StatusUnprocessableEntity, nil)
	}
}
