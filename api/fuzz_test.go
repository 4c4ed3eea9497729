package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// fuzzEndpoints are the native API's calls that decode a body.
var fuzzEndpoints = []struct{ method, path string }{
	{"POST", "/v1/events"},
	{"POST", "/v1/events/batch"},
	{"POST", "/v1/subscriptions"},
	{"PATCH", "/v1/subscriptions/{sub}"},
	{"POST", "/v1/subscriptions/{sub}/replay"},
	{"POST", "/v1/subscriptions/{sub}/rotate-secret"},
	{"POST", "/v1/accounts"},
	{"POST", "/v1/apps"},
	{"POST", "/v1/apps/{app}/credentials"},
}

// FuzzNativeAPI sends arbitrary bodies to every decoding endpoint of one real node: each must
// answer with a status below 500 and a JSON body, whatever it gets.
func FuzzNativeAPI(f *testing.F) {
	node := nodetest.Start(f, nodetest.Options{})
	rc := nodetest.NewReceiver(f)
	tn := node.NewTenant("fuzz", "")
	var sub struct{ ID string }
	tn.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"*"}, "url": rc.URL}, http.StatusCreated, &sub)
	seeds := []string{
		`{"account_id":"` + tn.AccountID + `","type":"client.create","entity":{"type":"client","id":"1"},"data":{"a":[1,2,{"b":null}]},"deliver_at":"2030-01-01T00:00:00Z"}`,
		`{"events":[{"account_id":"` + tn.AccountID + `","type":"a.b","entity":{"type":"x","id":"y"}}]}`,
		`{"account_id":"` + tn.AccountID + `","format":"standard","events":["*"],"url":"` + rc.URL + `","retry_policy":{"schedule":["1s",2]}}`,
		`{"events":["client.*"],"state":"disabled","max_per_second":3.5}`,
		`{"since":"2020-01-01T00:00:00Z"}`, `{"overlap":"1h"}`, `{"name":"x"}`, `{"name":"app","url":"https://a.example"}`,
		`{"kind":"access_token","account_id":"` + tn.AccountID + `","scopes":["a b"]}`,
		``, `null`, `[]`, `{"account_id":{}}`, `{"data":"\ud800"}`, `{"retry_policy":{"schedule":[1e308]}}`, `{"events":[` + "\"\x00\"" + `]}`,
	}
	for i := range fuzzEndpoints {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, endpoint uint8, body []byte) {
		e := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		path := replace(e.path, map[string]string{"{sub}": sub.ID, "{app}": tn.AppID})
		client := tn.App
		if e.path == "/v1/accounts" || e.path == "/v1/apps" || e.path == "/v1/apps/{app}/credentials" {
			client = node.Admin
		}
		r := client.WithT(t).Do(e.method, path, body)
		if r.Status >= 500 {
			t.Fatalf("%s %s with %q: %d %s", e.method, path, body, r.Status, r.Body)
		}
		if len(r.Body) > 0 && !json.Valid(r.Body) {
			t.Fatalf("%s %s: a body that is not JSON: %q", e.method, path, r.Body)
		}
	})
}

func replace(s string, with map[string]string) string {
	for k, v := range with {
		for i := 0; i+len(k) <= len(s); i++ {
			if s[i:i+len(k)] == k {
				s = s[:i] + v + s[i+len(k):]
			}
		}
	}
	return s
}
