package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/api/apitest"
	"github.com/switchyard/switchyard/engine"
)

// TestSecretsNeverLeak runs a full scenario at debug log level and then searches the node's log
// and every read of the API for each secret it handed out. Secrets are shown once, at creation,
// and nowhere after.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	node := apitest.Start(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	tn := node.NewTenant("secrets", "https://app.example/")
	var client engine.IssuedCredential
	node.Admin.MustDo("POST", "/v1/apps/"+tn.AppID+"/credentials", map[string]any{"kind": "client"}, http.StatusCreated, &client)
	sub := subscribe(t, tn, rc.URL, nil)
	var rotated subscription
	tn.App.MustDo("POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", nil, http.StatusOK, &rotated)
	ev := publish(t, tn, nil)
	d := deliveryOf(t, tn, ev.ID, "succeeded")

	_, tokenSecret, _ := strings.Cut(tn.Token, ".")
	secrets := map[string]string{
		"admin token": apitest.AdminToken, "app secret": tn.AppSecret, "api key secret": tokenSecret,
		"client secret": client.ClientSecret, "signing secret": sub.Secret, "rotated signing secret": rotated.Secret,
	}
	for name, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("%s %q is too short to search for", name, s)
		}
	}

	// Every read, and a few errors, after creation.
	var reads []*apitest.Response
	for _, path := range []string{
		"/v1/accounts", "/v1/accounts/" + tn.AccountID, "/v1/apps", "/v1/apps/" + tn.AppID,
		"/v1/subscriptions", "/v1/subscriptions/" + sub.ID, "/v1/deliveries", "/v1/deliveries/" + d.ID,
		"/v1/events/" + ev.ID, "/v1/plugins",
	} {
		reads = append(reads, node.Admin.Do("GET", path, nil), tn.App.Do("GET", path, nil))
	}
	reads = append(reads,
		tn.App.Do("POST", "/v1/subscriptions", map[string]any{"url": "http://10.0.0.1/", "secret": "leaky-" + sub.Secret}),
		node.Client(tn.Token+"x").Do("GET", "/v1/subscriptions", nil),
		node.Client(apitest.AdminToken+"x").Do("GET", "/v1/accounts", nil),
		tn.App.Do("PATCH", "/v1/subscriptions/"+sub.ID, map[string]any{"secret": sub.Secret}),
	)
	logs := node.Logs.String()
	if !strings.Contains(logs, "level=DEBUG") {
		t.Fatal("the node did not log at debug level; the search would prove little")
	}
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the %s is in the log", name)
		}
		for _, r := range reads {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("the %s is in a response: %s", name, r.Body)
			}
		}
	}
}
