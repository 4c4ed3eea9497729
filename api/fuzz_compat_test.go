package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// compatCall is one decoding endpoint of a vendor-compatible API, with what the fuzzer controls.
type compatCall struct {
	name string
	// do sends input to the endpoint, as its body or query as the endpoint reads it.
	do func(t *testing.T, input []byte) *nodetest.Response
}

// FuzzCompatAPIs sends arbitrary input to the request decoders of every vendor-compatible API on
// one real node: whatever arrives, each answers below 500.
func FuzzCompatAPIs(f *testing.F) {
	node := nodetest.Start(f, nodetest.Options{})
	tn := node.NewTenant("fuzz", "https://app.example/")
	issue := func(body map[string]any) engine.IssuedCredential {
		var c engine.IssuedCredential
		node.Admin.MustDo("POST", "/v1/apps/"+tn.AppID+"/credentials", body, http.StatusCreated, &c)
		return c
	}
	key := issue(map[string]any{"kind": "api_key", "account_id": tn.AccountID, "primary": true})
	client := issue(map[string]any{"kind": "client", "account_id": tn.AccountID})
	token := issue(map[string]any{"kind": "access_token", "account_id": tn.AccountID, "scopes": []string{"clients invoices"}})
	withKey := node.Client(key.Token)
	withKey.Header = "X-Api-Key"
	bearer, oauth := node.Client(key.Token), node.Client(token.Token)
	creds := "client_id=" + url.QueryEscape(client.ClientID) + "&client_secret=" + url.QueryEscape(client.ClientSecret)

	calls := []compatCall{
		{"altoviz create", func(t *testing.T, in []byte) *nodetest.Response {
			return withKey.WithT(t).Do("POST", "/compat/altoviz/v1/webhooks", in)
		}},
		{"altoviz delete", func(t *testing.T, in []byte) *nodetest.Response {
			return withKey.WithT(t).Do("DELETE", "/compat/altoviz/v1/webhooks?url="+url.QueryEscape(string(in))+"&id="+url.QueryEscape(string(in)), nil)
		}},
		{"quicklysign v0 create", func(t *testing.T, in []byte) *nodetest.Response {
			body := `{"client_id":"` + client.ClientID + `","client_secret":"` + client.ClientSecret + `","subscription":` + string(in) + `}`
			return node.Client("").WithT(t).Do("POST", "/compat/quicklysign/v0/subscriptions", body)
		}},
		{"quicklysign v1 create", func(t *testing.T, in []byte) *nodetest.Response {
			body := `{"client_id":"` + client.ClientID + `","client_secret":"` + client.ClientSecret + `","webhook":` + string(in) + `}`
			return node.Client("").WithT(t).Do("POST", "/compat/quicklysign/v1/webhooks", body)
		}},
		{"quicklysign query", func(t *testing.T, in []byte) *nodetest.Response {
			return node.Client("").WithT(t).Do("GET", "/compat/quicklysign/v0/subscriptions?"+creds+"&entity_key="+url.QueryEscape(string(in))+"&page="+url.QueryEscape(string(in)), nil)
		}},
		{"salesking create", func(t *testing.T, in []byte) *nodetest.Response {
			return oauth.WithT(t).Do("POST", "/compat/salesking/api/subs", in)
		}},
		{"salesking create form", func(t *testing.T, in []byte) *nodetest.Response {
			form := *oauth.WithT(t)
			form.ContentType = "application/x-www-form-urlencoded"
			return form.Do("POST", "/compat/salesking/api/subs", "sub[channel]="+url.QueryEscape(string(in))+"&sub[callback_url]="+url.QueryEscape(string(in))+"&"+string(in))
		}},
		{"salesking update", func(t *testing.T, in []byte) *nodetest.Response {
			return oauth.WithT(t).Do("PUT", "/compat/salesking/api/subs/"+url.PathEscape(string(in)), in)
		}},
		{"ivvy subscribe", func(t *testing.T, in []byte) *nodetest.Response {
			return bearer.WithT(t).Do("POST", "/compat/ivvy/api/1.0/account?action=subscribeToNotifications", in)
		}},
		{"ivvy unsubscribe", func(t *testing.T, in []byte) *nodetest.Response {
			return bearer.WithT(t).Do("POST", "/compat/ivvy/api/1.0/account?action=unsubscribeFromNotifications", in)
		}},
		{"ivvy sns action", func(t *testing.T, in []byte) *nodetest.Response {
			return node.Client("").WithT(t).Do("GET", "/compat/ivvy/sns?Action="+url.QueryEscape(string(in))+"&Token="+url.QueryEscape(string(in)), nil)
		}},
		{"upsales callback", func(t *testing.T, in []byte) *nodetest.Response {
			return node.Client("").WithT(t).Do("POST", "/hooks/upsales/callbacks/"+url.PathEscape(string(in)), in)
		}},
		{"upsales logs", func(t *testing.T, in []byte) *nodetest.Response {
			return bearer.WithT(t).Do("GET", "/v1/logs?limit="+url.QueryEscape(string(in))+"&before="+url.QueryEscape(string(in)), nil)
		}},
	}
	seeds := []string{
		`{"name":"n","types":["CustomerCreated"],"url":"http://127.0.0.1:1/h","secretKey":"k"}`,
		`{"entity_key":"doc-1","callback":"http://127.0.0.1:1/cb"}`,
		`{"sub":{"channel":"client.create","callback_url":"https://app.example/cb"}}`,
		`{"companiesEndpoint":"http://127.0.0.1:1/n","contactsEndpoint":""}`,
		`{"status":1,"message":"m","appData":{"a":1},"notify":"hi","notifyUserIds":[1,"2"]}`,
		``, `null`, `[]`, `{`, `"\ud800"`, `{"types":[null,1,{}]}`, `client.create`, `SubscriptionConfirmation`,
	}
	for i := range calls {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, input []byte) {
		c := calls[int(which)%len(calls)]
		if r := c.do(t, input); r.Status >= 500 {
			t.Fatalf("%s with %q: %d %s", c.name, input, r.Status, r.Body)
		}
	})
}
