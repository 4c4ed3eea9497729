package api_test

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestStoredInputIsCapped sends what the server would otherwise store as given: a long event
// type, short signing secrets chosen by the caller, scopes nothing reads. Each is refused with a
// 422 naming its field, and nothing is stored.
func TestStoredInputIsCapped(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("caps", "")
	refused := func(r *nodetest.Response, field string) {
		t.Helper()
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), field) {
			t.Errorf("want 422 naming %s, got %d %s", field, r.Status, r.Body)
		}
	}

	longType := "client." + strings.Repeat("x", 200)
	refused(tn.App.Do("POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "type": longType, "entity": map[string]string{"type": "client", "id": "1"}, "idempotency_key": "long"}), "type")
	var again struct{ Duplicate bool }
	tn.App.MustDo("POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "1"}, "idempotency_key": "long"}, http.StatusAccepted, &again)
	if again.Duplicate {
		t.Error("an event refused for its type was stored")
	}
	refused(tn.App.Do("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"client." + strings.Repeat("y", 200)}, "url": rc.URL}), "events")

	sub := func(secret string) *nodetest.Response {
		return tn.App.Do("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"client.*"}, "url": rc.URL, "secret": secret})
	}
	refused(sub("hunter2"), "secret")
	refused(sub("whsec_"+base64.StdEncoding.EncodeToString([]byte("8 bytes!"))), "secret")
	var list struct{ Data []any }
	tn.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, &list)
	if len(list.Data) != 0 {
		t.Errorf("%d subscriptions stored from refused calls", len(list.Data))
	}
	var s struct{ ID string }
	if r := sub("a-secret-of-sixteen+"); r.Status != http.StatusCreated {
		t.Fatalf("a 20-byte secret: %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &s)
	}
	refused(tn.App.Do("POST", "/v1/subscriptions/"+s.ID+"/rotate-secret", map[string]any{"secret": "short"}), "secret")

	issue := func(scopes ...string) *nodetest.Response {
		return node.Admin.Do("POST", "/v1/apps/"+tn.AppID+"/credentials", map[string]any{"kind": "access_token", "account_id": tn.AccountID, "scopes": scopes})
	}
	for _, bad := range [][]string{{"events:pubish"}, {"clients", "everything"}, {"clients:explode"}, {"api/"}} {
		refused(issue(bad...), "scopes")
	}
	// The native scope, and SalesKing's: its objects (all actions or some), and its API scopes.
	if r := issue("events:publish", "clients", "invoices:create,update", "api/clients"); r.Status != http.StatusCreated {
		t.Errorf("known scopes: %d %s", r.Status, r.Body)
	}
}

// goTypeNames are what a Go type looks like in an error: a client must never see one.
var goTypeNames = regexp.MustCompile(`json: |u?int(8|16|32|64)?\b|float(32|64)|\bbool\b|map\[|\[\]|\*?engine\.|time\.|struct \{|interface \{|reflect|Go value`)

// TestErrorsNeverShowGoTypeNames sends values of the wrong JSON type to every native decoding
// endpoint: each answer is a 4xx whose message says what was wanted in JSON's words.
func TestErrorsNeverShowGoTypeNames(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("types", "")
	var s struct{ ID string }
	tn.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"*"}, "url": rc.URL}, http.StatusCreated, &s)
	calls := []struct {
		method, path, body string
		c                  *nodetest.Client
	}{
		{"POST", "/v1/events", `{"account_id": 5}`, tn.App},
		{"POST", "/v1/events", `{"entity": "client-1"}`, tn.App},
		{"POST", "/v1/events", `{"entity": {"id": 1.5}}`, tn.App},
		{"POST", "/v1/events", `{"deliver_at": 5}`, tn.App},
		{"POST", "/v1/events", `{"deliver_at": "tomorrow"}`, tn.App},
		{"POST", "/v1/events", `{"user": []}`, tn.App},
		{"POST", "/v1/events/batch", `{"events": {}}`, tn.App},
		{"POST", "/v1/events/batch", `{"events": [true]}`, tn.App},
		{"POST", "/v1/subscriptions", `{"events": "client.*"}`, tn.App},
		{"POST", "/v1/subscriptions", `{"options": []}`, tn.App},
		{"POST", "/v1/subscriptions", `{"options": {"a": 1}}`, tn.App},
		{"POST", "/v1/subscriptions", `{"max_per_second": "fast"}`, tn.App},
		{"POST", "/v1/subscriptions", `{"retry_policy": "often"}`, tn.App},
		{"POST", "/v1/subscriptions", `{"retry_policy": {"schedule": [true]}}`, tn.App},
		{"PATCH", "/v1/subscriptions/" + s.ID, `{"events": 1}`, tn.App},
		{"PATCH", "/v1/subscriptions/" + s.ID, `{"max_per_second": -1e400}`, tn.App},
		{"POST", "/v1/subscriptions/" + s.ID + "/replay", `{"since": 5}`, tn.App},
		{"POST", "/v1/subscriptions/" + s.ID + "/rotate-secret", `{"overlap": true}`, tn.App},
		{"POST", "/v1/accounts", `{"name": ["a"]}`, node.Admin},
		{"POST", "/v1/apps", `{"name": "a", "url": {}}`, node.Admin},
		{"POST", "/v1/apps/" + tn.AppID + "/credentials", `{"kind": "api_key", "scopes": "events:publish"}`, node.Admin},
		{"POST", "/v1/apps/" + tn.AppID + "/credentials", `{"kind": "api_key", "primary": 1}`, node.Admin},
	}
	for _, c := range calls {
		r := c.c.Do(c.method, c.path, c.body)
		var body struct {
			Error struct{ Code, Message string }
		}
		r.JSON(t, &body)
		if r.Status < 400 || r.Status >= 500 || body.Error.Message == "" {
			t.Errorf("%s %s %s: %d %s", c.method, c.path, c.body, r.Status, r.Body)
			continue
		}
		if m := goTypeNames.FindString(body.Error.Message); m != "" {
			t.Errorf("%s %s %s: the message shows %q: %s", c.method, c.path, c.body, m, body.Error.Message)
		}
	}
}
