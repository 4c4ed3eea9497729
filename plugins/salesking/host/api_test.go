package host_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/plugins/salesking"
)

// sub is a subscription as the compatible API shows it.
type sub struct {
	ID          string `json:"id"`
	CompanyID   string `json:"company_id"`
	Channel     string `json:"channel"`
	CallbackURL string `json:"callback_url"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

type subList struct {
	Subs []struct {
		Sub sub `json:"sub"`
	} `json:"subs"`
	Collection struct {
		CurrentPage  int `json:"current_page"`
		PerPage      int `json:"per_page"`
		TotalEntries int `json:"total_entries"`
		TotalPages   int `json:"total_pages"`
	} `json:"collection"`
	Links map[string]string `json:"links"`
}

// bundle is a node with one company (account), an app and an access token it granted the app.
type bundle struct {
	node    *nodetest.Node
	tenant  *nodetest.Tenant
	appURL  string
	token   string
	tokenID string
	base    string
}

const appURL = "http://127.0.0.1:9/sk"

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupWith(t, nodetest.Options{})
}

func setupWith(t *testing.T, opts nodetest.Options) *bundle {
	t.Helper()
	node := nodetest.Start(t, opts)
	tn := node.NewTenant("acme", appURL)
	b := &bundle{node: node, tenant: tn, appURL: appURL, base: node.URL() + "/compat/salesking/api"}
	b.token, b.tokenID = b.grant(t, tn.AppID, "clients:create invoices")
	return b
}

// grant issues an access token the tenant's account grants to app, with scope.
func (b *bundle) grant(t *testing.T, appID, scope string) (token, id string) {
	t.Helper()
	var cred engine.IssuedCredential
	b.node.Admin.MustDo("POST", "/v1/apps/"+appID+"/credentials",
		map[string]any{"kind": "access_token", "account_id": b.tenant.AccountID, "scopes": []string{scope}}, http.StatusCreated, &cred)
	return cred.Token, cred.ID
}

// call is one request to the compatible API.
type call struct {
	method, path string
	// contentType and body are sent as they are.
	contentType string
	body        string
	// bearer is sent as Authorization: Bearer; query is appended to the path.
	bearer string
	header map[string]string
}

type response struct {
	status int
	body   []byte
}

func (b *bundle) do(t *testing.T, c call) response {
	t.Helper()
	req, err := http.NewRequest(c.method, b.base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: body}
}

func (b *bundle) must(t *testing.T, c call, status int, out any) response {
	t.Helper()
	r := b.do(t, c)
	if r.status != status {
		t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
	}
	return r
}

func jsonSub(channel, callback string) string {
	b, _ := json.Marshal(map[string]any{"sub": map[string]string{"channel": channel, "callback_url": callback}})
	return string(b)
}

func (b *bundle) subscribe(t *testing.T, token, channel, callback string) sub {
	t.Helper()
	var got struct{ Sub sub }
	b.must(t, call{method: "POST", path: "/subs", contentType: "application/json", body: jsonSub(channel, callback), bearer: token}, http.StatusCreated, &got)
	return got.Sub
}

// native returns a subscription as the engine stores it.
func (b *bundle) native(t *testing.T, id string) (engine.Subscription, int) {
	t.Helper()
	var s engine.Subscription
	r := b.node.Admin.Do("GET", "/v1/subscriptions/"+id, nil)
	if r.Status == http.StatusOK {
		r.JSON(t, &s)
	}
	return s, r.Status
}

// stored lists every subscription of the app, as the engine stores them: what bad requests must
// leave alone.
func (b *bundle) stored(t *testing.T) []engine.Subscription {
	t.Helper()
	var l struct{ Data []engine.Subscription }
	b.node.Admin.MustDo("GET", "/v1/subscriptions?app_id="+b.tenant.AppID, nil, http.StatusOK, &l)
	return l.Data
}

func TestChannelsAreThePluginsManifest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, ok := b.node.Engine().Plugins().Get(salesking.Name)
	if !ok {
		t.Fatal("the salesking plugin is not loaded")
	}
	var want []string
	for _, e := range p.Manifest().Events {
		want = append(want, e.Name)
	}
	for _, path := range []string{"/subs/channels", "/subs/channels.json"} {
		var got []string
		// The list needs no credential; a token sent along is no hindrance.
		b.must(t, call{method: "GET", path: path}, http.StatusOK, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
		b.must(t, call{method: "GET", path: path, bearer: b.token}, http.StatusOK, nil)
	}
	if len(want) != 3*len(salesking.Objects) {
		t.Fatalf("%d channels", len(want))
	}
	for _, ch := range []string{"client.update", "invoice.delete", "comment.create", "contact.create", "product.delete", "estimate.update", "order.create", "payment.create", "document.delete"} {
		if !slices.Contains(want, ch) {
			t.Errorf("no channel %s", ch)
		}
	}
}

// TestCreateFromJSONAndForms subscribes every way a SalesKing client may: JSON wrapped and
// unwrapped, a url-encoded form with the token as a query parameter or form field, a multipart
// form, and the .json paths of ActiveResource.
func TestCreateFromJSONAndForms(t *testing.T) {
	t.Parallel()
	b := setup(t)
	form := func(ch, cb string) string {
		return url.Values{"sub[channel]": {ch}, "sub[callback_url]": {cb}}.Encode()
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("sub[channel]", "invoice.update")
	_ = mw.WriteField("sub[callback_url]", appURL+"/multipart")
	_ = mw.Close()
	for _, tc := range []struct {
		name    string
		c       call
		channel string
		cb      string
	}{
		{"json", call{path: "/subs", contentType: "application/json", body: jsonSub("client.create", appURL+"/json"), bearer: b.token}, "client.create", appURL + "/json"},
		{"json unwrapped, charset", call{path: "/subs.json", contentType: "application/json; charset=utf-8", body: `{"channel":"invoice.create","callback_url":"` + appURL + `/unwrapped"}`, bearer: b.token}, "invoice.create", appURL + "/unwrapped"},
		{"form, token in the query", call{path: "/subs?access_token=" + url.QueryEscape(b.token), contentType: "application/x-www-form-urlencoded", body: form("invoice.delete", appURL+"/form")}, "invoice.delete", appURL + "/form"},
		{"form, token in the form", call{path: "/subs.json", contentType: "application/x-www-form-urlencoded", body: form("client.create", appURL+"/form2") + "&access_token=" + url.QueryEscape(b.token)}, "client.create", appURL + "/form2"},
		{"multipart form", call{path: "/subs", contentType: mw.FormDataContentType(), body: mp.String(), bearer: b.token}, "invoice.update", appURL + "/multipart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.method = "POST"
			var got struct{ Sub sub }
			raw := b.must(t, tc.c, http.StatusCreated, &got)
			var keys map[string]map[string]any
			_ = json.Unmarshal(raw.body, &keys)
			if len(keys) != 1 || len(keys["sub"]) != 6 {
				t.Errorf("body %s: want exactly {\"sub\": {id, company_id, channel, callback_url, created_at, updated_at}}", raw.body)
			}
			s := got.Sub
			if s.Channel != tc.channel || s.CallbackURL != tc.cb || s.CompanyID != b.tenant.AccountID || !strings.HasPrefix(s.ID, "sub_") {
				t.Errorf("sub %+v", s)
			}
			if _, err := time.Parse(time.RFC3339, s.CreatedAt); err != nil || s.UpdatedAt != s.CreatedAt {
				t.Errorf("created_at %q updated_at %q", s.CreatedAt, s.UpdatedAt)
			}
			n, status := b.native(t, s.ID)
			if status != http.StatusOK || n.Format != salesking.Name || !slices.Equal(n.Events, []string{tc.channel}) || n.URL != tc.cb ||
				n.CredentialID != b.tokenID || n.AccountID != b.tenant.AccountID || n.State != engine.SubscriptionActive {
				t.Errorf("stored %+v (%d)", n, status)
			}
		})
	}
}

// TestSubscribingTwiceGivesTheSameSub: an app that subscribes each time it starts keeps one
// subscription, so it does not receive every notification twice.
func TestSubscribingTwiceGivesTheSameSub(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.subscribe(t, b.token, "client.create", appURL+"/cb")
	again := b.subscribe(t, b.token, "client.create", appURL+"/cb")
	other := b.subscribe(t, b.token, "client.create", appURL+"/other")
	if again.ID != first.ID || other.ID == first.ID {
		t.Errorf("first %s, again %s, other callback %s", first.ID, again.ID, other.ID)
	}
	if n := len(b.stored(t)); n != 2 {
		t.Errorf("%d subscriptions stored, want 2", n)
	}
	// Disabled (its receiver answered 410 Gone, say), it is enabled again by subscribing again.
	b.node.Admin.MustDo("PATCH", "/v1/subscriptions/"+first.ID, map[string]string{"state": "disabled"}, http.StatusOK, nil)
	if again := b.subscribe(t, b.token, "client.create", appURL+"/cb"); again.ID != first.ID {
		t.Errorf("subscribing to a disabled one made %s", again.ID)
	}
	if n, _ := b.native(t, first.ID); n.State != engine.SubscriptionActive {
		t.Errorf("state %s after subscribing again, want active", n.State)
	}
}

func TestListGetUpdateDelete(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	b := setupWith(t, nodetest.Options{Clock: clock})
	var ids []string
	for _, ch := range []string{"client.create", "invoice.create", "invoice.update"} {
		ids = append(ids, b.subscribe(t, b.token, ch, appURL+"/"+ch).ID)
	}
	// Another token's subscriptions are not this token's.
	otherToken, _ := b.grant(t, b.tenant.AppID, "clients")
	b.subscribe(t, otherToken, "client.update", appURL+"/other")

	var page1, page2 subList
	b.must(t, call{method: "GET", path: "/subs?per_page=2", bearer: b.token}, http.StatusOK, &page1)
	b.must(t, call{method: "GET", path: "/subs.json?per_page=2&page=2&access_token=" + url.QueryEscape(b.token)}, http.StatusOK, &page2)
	if c := page1.Collection; c.CurrentPage != 1 || c.PerPage != 2 || c.TotalEntries != 3 || c.TotalPages != 2 || len(page1.Subs) != 2 {
		t.Errorf("page 1: %+v with %d subs", c, len(page1.Subs))
	}
	if c := page2.Collection; c.CurrentPage != 2 || len(page2.Subs) != 1 || page2.Links["prev"] == "" || page2.Links["next"] != "" {
		t.Errorf("page 2: %+v %v", c, page2.Links)
	}
	if page1.Links["next"] != "/compat/salesking/api/subs?page=2&per_page=2" || page1.Links["prev"] != "" {
		t.Errorf("page 1 links %v", page1.Links)
	}
	got := []string{page1.Subs[0].Sub.ID, page1.Subs[1].Sub.ID, page2.Subs[0].Sub.ID}
	if !slices.Equal(got, ids) {
		t.Errorf("listed %v, want %v", got, ids)
	}
	var all subList
	b.must(t, call{method: "GET", path: "/subs", bearer: b.token}, http.StatusOK, &all)
	if all.Collection.PerPage != 50 || all.Collection.TotalEntries != 3 {
		t.Errorf("default paging %+v", all.Collection)
	}

	var one struct{ Sub sub }
	b.must(t, call{method: "GET", path: "/subs/" + ids[1] + ".json", bearer: b.token}, http.StatusOK, &one)
	if one.Sub.ID != ids[1] || one.Sub.Channel != "invoice.create" {
		t.Errorf("get %+v", one.Sub)
	}

	// PUT with JSON: a new channel; the callback stays.
	clock.Advance(time.Minute)
	var put struct{ Sub sub }
	b.must(t, call{method: "PUT", path: "/subs/" + ids[1], contentType: "application/json", body: `{"sub":{"channel":"invoice.delete"}}`, bearer: b.token}, http.StatusOK, &put)
	if put.Sub.Channel != "invoice.delete" || put.Sub.CallbackURL != appURL+"/invoice.create" ||
		put.Sub.CreatedAt != "2026-11-23T12:00:00Z" || put.Sub.UpdatedAt != "2026-11-23T12:01:00Z" {
		t.Errorf("put %+v", put.Sub)
	}
	// PUT with a form: a new callback.
	b.must(t, call{method: "PUT", path: "/subs/" + ids[1] + ".json", contentType: "application/x-www-form-urlencoded",
		body: url.Values{"sub[callback_url]": {appURL + "/moved"}}.Encode(), bearer: b.token}, http.StatusOK, &put)
	if put.Sub.Channel != "invoice.delete" || put.Sub.CallbackURL != appURL+"/moved" {
		t.Errorf("put form %+v", put.Sub)
	}
	// PUT as ActiveResource sends it: the whole object back, read-only fields included.
	whole, _ := json.Marshal(map[string]any{"sub": map[string]any{"id": ids[1], "company_id": "x", "channel": "invoice.update",
		"callback_url": appURL + "/moved", "created_at": put.Sub.CreatedAt, "updated_at": put.Sub.UpdatedAt, "links": []any{}}})
	b.must(t, call{method: "PUT", path: "/subs/" + ids[1] + ".json", contentType: "application/json", body: string(whole), bearer: b.token}, http.StatusOK, &put)
	if put.Sub.Channel != "invoice.update" || put.Sub.CompanyID != b.tenant.AccountID || put.Sub.ID != ids[1] {
		t.Errorf("put whole %+v", put.Sub)
	}
	// PATCH is the same update, as Rails routes it.
	b.must(t, call{method: "PATCH", path: "/subs/" + ids[1], contentType: "application/json", body: `{"sub":{"channel":"invoice.update"}}`, bearer: b.token}, http.StatusOK, &put)
	if put.Sub.Channel != "invoice.update" {
		t.Errorf("patch %+v", put.Sub)
	}
	n, _ := b.native(t, ids[1])
	if !slices.Equal(n.Events, []string{"invoice.update"}) || n.URL != appURL+"/moved" || !n.UpdatedAt.After(n.CreatedAt) {
		t.Errorf("stored after PUT %+v", n)
	}

	var del struct{ Sub sub }
	b.must(t, call{method: "DELETE", path: "/subs/" + ids[0], bearer: b.token}, http.StatusOK, &del)
	if del.Sub.ID != ids[0] || del.Sub.Channel != "client.create" {
		t.Errorf("delete answered %+v", del.Sub)
	}
	b.must(t, call{method: "GET", path: "/subs/" + ids[0], bearer: b.token}, http.StatusNotFound, nil)
	b.must(t, call{method: "DELETE", path: "/subs/" + ids[0], bearer: b.token}, http.StatusNotFound, nil)
	if _, status := b.native(t, ids[0]); status != http.StatusNotFound {
		t.Errorf("deleted subscription still stored: %d", status)
	}
	b.must(t, call{method: "GET", path: "/subs", bearer: b.token}, http.StatusOK, &all)
	if all.Collection.TotalEntries != 2 {
		t.Errorf("%d left, want 2", all.Collection.TotalEntries)
	}
}

// TestErrors sends every bad request the API refuses and checks the status, the error body, and
// that nothing stored changed.
func TestErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	existing := b.subscribe(t, b.token, "client.create", appURL+"/cb")
	otherToken, _ := b.grant(t, b.tenant.AppID, "clients invoices")
	others := b.subscribe(t, otherToken, "invoice.delete", appURL+"/theirs")
	revoked, revokedID := b.grant(t, b.tenant.AppID, "clients")
	b.node.Admin.MustDo("DELETE", "/v1/credentials/"+revokedID, nil, http.StatusOK, nil)
	var apiKey engine.IssuedCredential
	b.node.Admin.MustDo("POST", "/v1/apps/"+b.tenant.AppID+"/credentials", map[string]any{"kind": "api_key", "account_id": b.tenant.AccountID, "scopes": []string{"clients"}}, http.StatusCreated, &apiKey)
	var client engine.IssuedCredential
	b.node.Admin.MustDo("POST", "/v1/apps/"+b.tenant.AppID+"/credentials", map[string]any{"kind": "client", "scopes": []string{"clients"}}, http.StatusCreated, &client)
	// An app without a URL: no callback can lie within it.
	var bare struct{ ID string }
	b.node.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": "no url"}, http.StatusCreated, &bare)
	bareToken, _ := b.grant(t, bare.ID, "clients")
	// An app whose URL the SSRF guard refuses: the engine's own check, in this API's shape.
	var private struct{ ID string }
	b.node.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": "private", "url": "http://10.1.2.3/sk"}, http.StatusCreated, &private)
	privateToken, _ := b.grant(t, private.ID, "clients")

	post := func(token, body string) call {
		return call{method: "POST", path: "/subs", contentType: "application/json", body: body, bearer: token}
	}
	before := b.stored(t)
	for _, tc := range []struct {
		name   string
		c      call
		status int
		// errors are the [field, part of the message] pairs expected, in order.
		errors [][2]string
	}{
		{"no token", call{method: "POST", path: "/subs", contentType: "application/json", body: jsonSub("client.create", appURL)}, 401, [][2]string{{"base", "no access token"}}},
		{"unknown token", post("crd_nope.secret", jsonSub("client.create", appURL)), 401, [][2]string{{"base", "not valid"}}},
		{"wrong secret", post(b.tokenID+".wrong", jsonSub("client.create", appURL)), 401, [][2]string{{"base", "not valid"}}},
		{"revoked token", post(revoked, jsonSub("client.create", appURL)), 401, [][2]string{{"base", "not valid"}}},
		{"basic auth", call{method: "GET", path: "/subs", header: map[string]string{"Authorization": "Basic dXNlcjpwdw=="}}, 401, [][2]string{{"base", "OAuth access token"}}},
		{"empty bearer", call{method: "GET", path: "/subs", header: map[string]string{"Authorization": "Bearer "}}, 401, [][2]string{{"base", "bearer token is empty"}}},
		{"api key", post(apiKey.Token, jsonSub("client.create", appURL)), 403, [][2]string{{"base", "this credential is a api_key"}}},
		{"client credential", post(client.ClientID+"."+client.ClientSecret, jsonSub("client.create", appURL)), 401, [][2]string{{"base", "not valid"}}},
		{"admin token", post(nodetest.AdminToken, jsonSub("client.create", appURL)), 403, [][2]string{{"base", "admin token cannot manage"}}},
		{"admin token lists", call{method: "GET", path: "/subs", bearer: nodetest.AdminToken}, 403, [][2]string{{"base", "admin token"}}},
		{"unknown channel", post(b.token, jsonSub("client.explode", appURL)), 422, [][2]string{{"channel", `"client.explode" is not a channel`}}},
		{"channel outside the scope", post(b.token, jsonSub("client.update", appURL)), 403, [][2]string{{"base", "does not allow subscribing to client.update"}}},
		{"another object outside the scope", post(b.token, jsonSub("contact.create", appURL)), 403, [][2]string{{"base", "contacts:create"}}},
		{"callback on another host", post(b.token, jsonSub("client.create", "http://127.0.0.2:9/sk")), 422, [][2]string{{"callback_url", "must lie within the app's URL " + appURL}}},
		{"callback beside the app's path", post(b.token, jsonSub("client.create", "http://127.0.0.1:9/skevil")), 422, [][2]string{{"callback_url", "the path is /skevil"}}},
		{"callback on another port", post(b.token, jsonSub("client.create", "http://127.0.0.1:10/sk")), 422, [][2]string{{"callback_url", "the port is 10"}}},
		{"callback on https", post(b.token, jsonSub("client.create", "https://127.0.0.1:9/sk")), 422, [][2]string{{"callback_url", "the scheme is https"}}},
		{"app without a URL", post(bareToken, jsonSub("client.create", appURL)), 422, [][2]string{{"callback_url", "this app has none"}}},
		{"callback the SSRF guard refuses", post(privateToken, jsonSub("client.create", "http://10.1.2.3/sk/cb")), 422, [][2]string{{"callback_url", "10.1.2.3"}}},
		{"nothing given", post(b.token, `{"sub":{}}`), 422, [][2]string{{"channel", "can't be blank"}, {"callback_url", "can't be blank"}}},
		{"blank form fields", call{method: "POST", path: "/subs", contentType: "application/x-www-form-urlencoded", body: "sub[channel]=&sub[callback_url]=", bearer: b.token}, 422, [][2]string{{"channel", "can't be blank"}, {"callback_url", "can't be blank"}}},
		{"both wrong at once", post(b.token, jsonSub("nope", "http://evil.test/")), 422, [][2]string{{"channel", "is not a channel"}, {"callback_url", "must lie within"}}},
		{"malformed JSON", post(b.token, `{"sub": {"channel": `), 400, [][2]string{{"base", "not valid JSON"}}},
		{"empty JSON body", post(b.token, ``), 400, [][2]string{{"base", "body is empty"}}},
		{"channel not a string", post(b.token, `{"sub":{"channel":5,"callback_url":"`+appURL+`"}}`), 422, [][2]string{{"channel", "must be a string"}}},
		{"sub not an object", post(b.token, `{"sub":"client.create"}`), 400, [][2]string{{"sub", "must be an object"}}},
		{"unsupported body", call{method: "POST", path: "/subs", contentType: "text/xml", body: "<sub/>", bearer: b.token}, 400, [][2]string{{"base", "text/xml is not understood"}}},
		{"bad per_page", call{method: "GET", path: "/subs?per_page=500&page=0", bearer: b.token}, 400, [][2]string{{"page", "from 1"}, {"per_page", "from 1 to 200"}}},
		{"get another token's sub", call{method: "GET", path: "/subs/" + others.ID, bearer: b.token}, 404, [][2]string{{"base", "belongs to this access token"}}},
		{"get a missing sub", call{method: "GET", path: "/subs/sub_nope", bearer: b.token}, 404, [][2]string{{"base", "sub_nope"}}},
		{"update another token's sub", call{method: "PUT", path: "/subs/" + others.ID, contentType: "application/json", body: `{"sub":{"channel":"invoice.create"}}`, bearer: b.token}, 404, [][2]string{{"base", others.ID}}},
		{"delete another token's sub", call{method: "DELETE", path: "/subs/" + others.ID, bearer: b.token}, 404, [][2]string{{"base", others.ID}}},
		{"update to a channel outside the scope", call{method: "PUT", path: "/subs/" + existing.ID, contentType: "application/json", body: `{"sub":{"channel":"client.delete"}}`, bearer: b.token}, 403, [][2]string{{"base", "clients:delete"}}},
		{"update to an unknown channel", call{method: "PUT", path: "/subs/" + existing.ID, contentType: "application/json", body: `{"sub":{"channel":"client"}}`, bearer: b.token}, 422, [][2]string{{"channel", "is not a channel"}}},
		{"update to a callback outside", call{method: "PUT", path: "/subs/" + existing.ID, contentType: "application/x-www-form-urlencoded", body: "sub[callback_url]=http%3A%2F%2F127.0.0.1%3A9%2Fother", bearer: b.token}, 422, [][2]string{{"callback_url", "the path is /other"}}},
		{"update with nothing", call{method: "PUT", path: "/subs/" + existing.ID, contentType: "application/json", body: `{"sub":{"id":"x"}}`, bearer: b.token}, 422, [][2]string{{"sub", "give the channel or the callback_url"}}},
		{"no such route", call{method: "GET", path: "/clients", bearer: b.token}, 404, [][2]string{{"base", "Not Found"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(t, tc.c)
			var body struct {
				Errors [][2]string `json:"errors"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || r.status != tc.status {
				t.Fatalf("%d %s (%v), want %d", r.status, r.body, err, tc.status)
			}
			if len(body.Errors) != len(tc.errors) {
				t.Fatalf("errors %q, want %d", body.Errors, len(tc.errors))
			}
			for i, want := range tc.errors {
				if body.Errors[i][0] != want[0] || !strings.Contains(body.Errors[i][1], want[1]) {
					t.Errorf("error %d: %q, want [%q, ...%q...]", i, body.Errors[i], want[0], want[1])
				}
			}
		})
	}
	if after := b.stored(t); !reflect.DeepEqual(after, before) {
		t.Errorf("bad requests changed what is stored:\n%+v\n%+v", before, after)
	}
}

func TestOperatorRecordsTheSubDomain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/compat/salesking/admin/companies/" + b.tenant.AccountID
	if r := b.node.Admin.Do("GET", path, nil); r.Status != http.StatusNotFound {
		t.Errorf("before it is set: %d %s", r.Status, r.Body)
	}
	var c struct {
		AccountID string `json:"account_id"`
		SubDomain string `json:"sub_domain"`
	}
	b.node.Admin.MustDo("PUT", path, map[string]string{"sub_domain": "acme"}, http.StatusOK, &c)
	b.node.Admin.MustDo("PUT", path, map[string]string{"sub_domain": "acme-gmbh"}, http.StatusOK, &c)
	b.node.Admin.MustDo("GET", path, nil, http.StatusOK, &c)
	if c.AccountID != b.tenant.AccountID || c.SubDomain != "acme-gmbh" {
		t.Errorf("company %+v", c)
	}
	for _, bad := range []string{"", "Acme", "-acme", "acme.eu", strings.Repeat("a", 64)} {
		if r := b.node.Admin.Do("PUT", path, map[string]string{"sub_domain": bad}); r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "validation_failed" {
			t.Errorf("sub_domain %q: %d %s", bad, r.Status, r.Body)
		}
	}
	if r := b.node.Admin.Do("PUT", "/compat/salesking/admin/companies/acc_nope", map[string]string{"sub_domain": "x"}); r.Status != http.StatusNotFound {
		t.Errorf("unknown account: %d %s", r.Status, r.Body)
	}
	if r := b.node.Client(b.token).Do("PUT", path, map[string]string{"sub_domain": "mine"}); r.Status != http.StatusForbidden {
		t.Errorf("an app's token: %d %s", r.Status, r.Body)
	}
	b.node.Admin.MustDo("GET", path, nil, http.StatusOK, &c)
	if c.SubDomain != "acme-gmbh" {
		t.Errorf("refused writes changed it to %q", c.SubDomain)
	}
}

// TestTheNativeAPIKeepsSalesKingsRules: a salesking subscription made or changed through
// /v1/subscriptions meets the rules of /api/subs: an access token's, one channel its scope allows,
// a callback within the app's URL. The operator may still manage it.
func TestTheNativeAPIKeepsSalesKingsRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	token := b.node.Client(b.token)
	nativeSub := func(events []string, url string) map[string]any {
		return map[string]any{"account_id": b.tenant.AccountID, "format": salesking.Name, "events": events, "url": url}
	}
	before := len(b.stored(t))
	for _, c := range []struct {
		name   string
		client *nodetest.Client
		body   map[string]any
		status int
	}{
		{"the app's API key", b.tenant.App, nativeSub([]string{"client.create"}, appURL+"/hook"), http.StatusForbidden},
		{"a channel the scope does not allow", token, nativeSub([]string{"client.update"}, appURL+"/hook"), http.StatusForbidden},
		{"a callback outside the app's URL", token, nativeSub([]string{"client.create"}, "http://127.0.0.1:9/elsewhere"), http.StatusUnprocessableEntity},
		{"a pattern for many channels", token, nativeSub([]string{"client.*"}, appURL+"/hook"), http.StatusUnprocessableEntity},
		{"two channels", token, nativeSub([]string{"client.create", "invoice.create"}, appURL+"/hook"), http.StatusUnprocessableEntity},
	} {
		if r := c.client.Do("POST", "/v1/subscriptions", c.body); r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
		}
	}
	if after := len(b.stored(t)); after != before {
		t.Fatalf("refused subscriptions were stored: %d before, %d after", before, after)
	}

	// Within the rules the native API works, and a change must stay within them.
	var made engine.Subscription
	token.MustDo("POST", "/v1/subscriptions", nativeSub([]string{"client.create"}, appURL+"/hook"), http.StatusCreated, &made)
	if r := token.Do("PATCH", "/v1/subscriptions/"+made.ID, map[string]any{"url": "http://127.0.0.1:9/elsewhere"}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("moving the callback outside the app's URL: %d %s", r.Status, r.Body)
	}
	if r := token.Do("PATCH", "/v1/subscriptions/"+made.ID, map[string]any{"events": []string{"client.update"}}); r.Status != http.StatusForbidden {
		t.Errorf("changing to a channel the scope does not allow: %d %s", r.Status, r.Body)
	}
	if got, _ := b.native(t, made.ID); got.URL != appURL+"/hook" || !slices.Equal(got.Events, []string{"client.create"}) {
		t.Errorf("a refused change changed the subscription: %+v", got)
	}
	b.node.Admin.MustDo("PATCH", "/v1/subscriptions/"+made.ID, map[string]any{"state": "disabled"}, http.StatusOK, nil)
}
