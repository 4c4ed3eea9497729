package host_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

func checkProblem(t *testing.T, resp *nodetest.Response, status int, detail string) problem {
	t.Helper()
	if resp.Status != status {
		t.Fatalf("status %d, want %d: %s", resp.Status, status, resp.Body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	var p problem
	strictJSON(t, resp.Body, &p)
	if p.Status != status || p.Title != http.StatusText(status) || !strings.HasPrefix(p.Type, "https://tools.ietf.org/html/rfc9110#section-") ||
		p.Instance != webhooks || !strings.Contains(p.Detail, detail) {
		t.Errorf("problem %+v, want status %d and a detail with %q", p, status, detail)
	}
	for _, tail := range []string{": not found", ": unauthorized", ": forbidden"} {
		if strings.HasSuffix(p.Detail, tail) {
			t.Errorf("detail %q ends with the engine's sentinel", p.Detail)
		}
	}
	return p
}

func checkInvalid(t *testing.T, resp *nodetest.Response, field, message string) {
	t.Helper()
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.Status, resp.Body)
	}
	var v validation
	strictJSON(t, resp.Body, &v)
	for _, e := range v.Errors {
		if e.Field == field && strings.Contains(e.Message, message) {
			if !strings.Contains(v.Message, message) {
				t.Errorf("message %q does not say %q", v.Message, message)
			}
			return
		}
	}
	t.Errorf("errors %+v do not say %s: %q", v.Errors, field, message)
}

func TestListShowsTheCallersWebhooks(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	publicURL := nodetest.NewReceiver(t).URL + "/altoviz"
	acme := newCompany(t, node, "Acme")
	if ws := list(t, acme); len(ws) != 0 {
		t.Fatalf("a new company lists %+v", ws)
	}
	a := register(t, acme, map[string]any{"name": "Customers", "types": []string{"CustomerCreated", "CustomerDeleted"}, "url": publicURL + "/a", "secretKey": "s3cret"})
	b := register(t, acme, map[string]any{"name": "Invoices", "types": []string{"InvoiceUpdated"}, "url": publicURL + "/b"})
	ws := list(t, acme)
	if len(ws) != 2 {
		t.Fatalf("list %+v", ws)
	}
	if ws[0].ID != a.ID || ws[0].Name != "Customers" || !slices.Equal(ws[0].Types, []string{"CustomerCreated", "CustomerDeleted"}) || ws[0].URL != publicURL+"/a" {
		t.Errorf("first %+v, want %+v", ws[0], a)
	}
	if ws[1].ID != b.ID || ws[1].Name != "Invoices" || !slices.Equal(ws[1].Types, []string{"InvoiceUpdated"}) || ws[1].URL != publicURL+"/b" {
		t.Errorf("second %+v, want %+v", ws[1], b)
	}
	// A secret key is shown to the registration that set it, and never read back.
	if ws[0].SecretKey != nil || ws[1].SecretKey != nil {
		t.Errorf("the list shows secret keys: %+v", ws)
	}
	// The document lists with a capital W.
	var capital []webhook
	acme.Altoviz.MustDo("GET", "/compat/altoviz/v1/Webhooks", nil, http.StatusOK, &capital)
	if !slices.Equal(ids(capital), []int64{a.ID, b.ID}) {
		t.Errorf("/v1/Webhooks lists %v", ids(capital))
	}
}

// TestAnotherKeysWebhooksAreNeverVisible: an app's key for one company sees nothing of another
// app's webhooks for that company, nor of its own app's webhooks for another company, and can
// remove none of them.
func TestAnotherKeysWebhooksAreNeverVisible(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	publicURL := nodetest.NewReceiver(t).URL + "/altoviz"
	acme := newCompany(t, node, "Acme")
	rival := newKey(t, node, newApp(t, node, "Rival integration"), acme.AccountID)
	elsewhere := newKey(t, node, acme.AppID, newAccount(t, node, "Globex"))
	mine := register(t, acme, map[string]any{"name": "Mine", "types": []string{"ProductCreated"}, "url": publicURL})
	theirs := register(t, rival, map[string]any{"name": "Theirs", "types": []string{"ProductCreated"}, "url": publicURL})
	other := register(t, elsewhere, map[string]any{"name": "Globex's", "types": []string{"ProductCreated"}, "url": publicURL})

	for _, c := range []struct {
		name string
		key  company
		want int64
	}{{"acme", acme, mine.ID}, {"rival", rival, theirs.ID}, {"elsewhere", elsewhere, other.ID}} {
		if got := ids(list(t, c.key)); !slices.Equal(got, []int64{c.want}) {
			t.Errorf("%s lists %v, want only [%d]", c.name, got, c.want)
		}
	}
	for _, intruder := range []company{rival, elsewhere} {
		checkProblem(t, intruder.Altoviz.Do("DELETE", webhooks+"?id="+strconv.FormatInt(mine.ID, 10), nil), http.StatusNotFound, "no webhook")
	}
	// By URL, each removes its own only.
	var removed webhook
	rival.Altoviz.MustDo("DELETE", webhooks+"?url="+url.QueryEscape(publicURL), nil, http.StatusOK, &removed)
	if removed.ID != theirs.ID {
		t.Errorf("rival removed %+v, want its own %d", removed, theirs.ID)
	}
	if got := ids(list(t, acme)); !slices.Equal(got, []int64{mine.ID}) {
		t.Errorf("acme lists %v after the others' deletes, want [%d]", got, mine.ID)
	}
	// The native API keeps apps apart too.
	checkProblem2 := rival.Native.Do("GET", "/v1/subscriptions/"+subscriptionOf(t, acme, publicURL).ID, nil)
	if checkProblem2.Status != http.StatusNotFound {
		t.Errorf("rival reads acme's subscription: %d %s", checkProblem2.Status, checkProblem2.Body)
	}
}

// TestKeysOfOneAppForOneCompanyShareWebhooks: a company's webhooks belong to the integrator, not
// to one key, so a rotated key manages what the old one registered.
func TestKeysOfOneAppForOneCompanyShareWebhooks(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	publicURL := nodetest.NewReceiver(t).URL + "/altoviz"
	old := newCompany(t, node, "Acme")
	w := register(t, old, map[string]any{"name": "Quotes", "types": []string{"QuoteCreated"}, "url": publicURL})
	rotated := newKey(t, node, old.AppID, old.AccountID)
	node.Admin.MustDo("DELETE", "/v1/credentials/"+old.CredID, nil, http.StatusOK, nil)
	if got := ids(list(t, rotated)); !slices.Equal(got, []int64{w.ID}) {
		t.Fatalf("the new key lists %v, want [%d]", got, w.ID)
	}
	rotated.Altoviz.MustDo("DELETE", webhooks+"?id="+strconv.FormatInt(w.ID, 10), nil, http.StatusOK, nil)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	publicURL := nodetest.NewReceiver(t).URL + "/altoviz"
	acme := newCompany(t, node, "Acme")
	rc := nodetest.NewReceiver(t)
	byURL := register(t, acme, map[string]any{"name": "By url", "types": []string{"ContactUpdated"}, "url": rc.URL + "/in?x=1&y=2", "secretKey": "k"})
	byID := register(t, acme, map[string]any{"name": "By id", "types": []string{"ContactDeleted", "ContactUpdated"}, "url": publicURL})
	kept := register(t, acme, map[string]any{"name": "Kept", "types": []string{"InvoiceCreated"}, "url": publicURL + "/kept"})

	// The URL as the document's curl sends it, and properly escaped: both name the webhook.
	resp := acme.Altoviz.MustDo("DELETE", webhooks+"?url="+url.QueryEscape(byURL.URL), nil, http.StatusOK, nil)
	var removed webhook
	strictJSON(t, resp.Body, &removed)
	if removed.ID != byURL.ID || removed.Name != "By url" || removed.URL != byURL.URL || !slices.Equal(removed.Types, []string{"ContactUpdated"}) || removed.SecretKey != nil {
		t.Errorf("removed %+v, want %+v without its secret key", removed, byURL)
	}
	acme.Altoviz.MustDo("DELETE", webhooks+"?id="+strconv.FormatInt(byID.ID, 10), nil, http.StatusOK, &removed)
	if removed.ID != byID.ID || !slices.Equal(removed.Types, []string{"ContactDeleted", "ContactUpdated"}) {
		t.Errorf("removed %+v, want %+v", removed, byID)
	}
	if got := ids(list(t, acme)); !slices.Equal(got, []int64{kept.ID}) {
		t.Errorf("lists %v after two deletes, want [%d]", got, kept.ID)
	}
	// A removed webhook gets no more calls: its subscription went with it.
	if p := publish(t, node, acme.AccountID, "contact.update", map[string]any{"id": 1}); p.Deliveries != 0 {
		t.Errorf("contact.update made %d deliveries after both contact webhooks were removed", p.Deliveries)
	}
	if n := subscriptionCount(t, acme); n != 1 {
		t.Errorf("%d subscriptions left, want 1", n)
	}

	// Unknown: 404 problem details, whether named by url or by id, or by both not matching.
	checkProblem(t, acme.Altoviz.Do("DELETE", webhooks+"?url="+url.QueryEscape(byURL.URL), nil), http.StatusNotFound, `no webhook with url "`+byURL.URL+`"`)
	checkProblem(t, acme.Altoviz.Do("DELETE", webhooks+"?id="+strconv.FormatInt(byID.ID, 10), nil), http.StatusNotFound, "no webhook "+strconv.FormatInt(byID.ID, 10))
	checkProblem(t, acme.Altoviz.Do("DELETE", webhooks+"?id="+strconv.FormatInt(kept.ID, 10)+"&url="+url.QueryEscape(publicURL), nil), http.StatusNotFound, "no webhook")
	// Neither, or an id that is not one: 400.
	checkInvalid(t, acme.Altoviz.Do("DELETE", webhooks, nil), "url", "give the url")
	checkInvalid(t, acme.Altoviz.Do("DELETE", webhooks+"?id=abc", nil), "id", `"abc" is not a webhook id`)
	checkInvalid(t, acme.Altoviz.Do("DELETE", webhooks+"?id=-4", nil), "id", "positive integer")
	if got := ids(list(t, acme)); !slices.Equal(got, []int64{kept.ID}) {
		t.Errorf("lists %v after the refused deletes, want [%d]", got, kept.ID)
	}

	// The native API's delete removes the webhook too.
	acme.Native.MustDo("DELETE", "/v1/subscriptions/"+subscriptionOf(t, acme, kept.URL).ID, nil, http.StatusNoContent, nil)
	if ws := list(t, acme); len(ws) != 0 {
		t.Errorf("lists %+v after the native delete", ws)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	publicURL := nodetest.NewReceiver(t).URL + "/altoviz"
	acme := newCompany(t, node, "Acme")
	w := register(t, acme, map[string]any{"name": "Mine", "types": []string{"ProductDeleted"}, "url": publicURL})
	revoked := newKey(t, node, acme.AppID, acme.AccountID)
	node.Admin.MustDo("DELETE", "/v1/credentials/"+revoked.CredID, nil, http.StatusOK, nil)
	var token struct{ Token string }
	node.Admin.MustDo("POST", "/v1/apps/"+acme.AppID+"/credentials", map[string]any{"kind": "access_token", "account_id": acme.AccountID}, http.StatusCreated, &token)
	unbound := newKey(t, node, acme.AppID, "")

	bearer := node.Client(acme.Key) // Authorization: Bearer, which Altoviz does not take
	cases := []struct {
		name   string
		client *nodetest.Client
		status int
		detail string
	}{
		{"no key", node.Client(""), 401, "x-api-key header is missing"},
		{"bearer instead of x-api-key", bearer, 401, "x-api-key header is missing"},
		{"unknown key", withKey(node, "crd_nothing.secret"), 401, "not valid"},
		{"malformed key", withKey(node, "cddb5157-12be-42a9-985a-4501c6e6e2fa"), 401, "not valid"},
		{"wrong secret", withKey(node, acme.CredID+".wrong"), 401, "not valid"},
		{"revoked key", withKey(node, revoked.Key), 401, "not valid"},
		{"admin token", withKey(node, nodetest.AdminToken), 401, "must be an API key"},
		{"access token", withKey(node, token.Token), 401, "must be an API key"},
		{"key of no company", unbound.Altoviz, 403, "belongs to no account"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkProblem(t, c.client.Do("GET", webhooks, nil), c.status, c.detail)
			checkProblem(t, c.client.Do("POST", webhooks, map[string]any{"name": "x", "types": []string{"QuoteCreated"}, "url": publicURL + "/x"}), c.status, c.detail)
			checkProblem(t, c.client.Do("DELETE", webhooks+"?id="+strconv.FormatInt(w.ID, 10), nil), c.status, c.detail)
		})
	}
	if got := ids(list(t, acme)); !slices.Equal(got, []int64{w.ID}) {
		t.Errorf("after the refused calls the company lists %v, want [%d]", got, w.ID)
	}
	if n := subscriptionCount(t, acme); n != 1 {
		t.Errorf("%d subscriptions after the refused calls, want 1", n)
	}
}

func withKey(node *nodetest.Node, key string) *nodetest.Client {
	c := node.Client(key)
	c.Header = "x-api-key"
	return c
}

func TestInvalidRegistrations(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	publicURL := nodetest.NewReceiver(t).URL + "/altoviz"
	acme := newCompany(t, node, "Acme")
	existing := register(t, acme, map[string]any{"name": "Existing", "types": []string{"QuoteUpdated"}, "url": publicURL})
	valid := func(edit func(map[string]any)) map[string]any {
		b := map[string]any{"name": "Demo customers", "types": []string{"CustomerCreated"}, "url": publicURL + "/new", "secretKey": "k"}
		edit(b)
		return b
	}
	cases := []struct {
		name    string
		body    any
		field   string
		message string
	}{
		{"empty body", "", "", "body is empty"},
		{"malformed JSON", `{"name": "x",`, "", "malformed JSON"},
		{"not an object", `["CustomerCreated"]`, "", "must be a JSON object"},
		{"no types", valid(func(b map[string]any) { delete(b, "types") }), "types", "list at least one webhook type"},
		{"empty types", valid(func(b map[string]any) { b["types"] = []string{} }), "types", "list at least one webhook type"},
		{"types not a list", valid(func(b map[string]any) { b["types"] = "CustomerCreated" }), "types", "must be an array"},
		{"unknown types", valid(func(b map[string]any) { b["types"] = []string{"CustomerCreated", "CustomerMerged", "OrderCreated"} }), "types", `"CustomerMerged", "OrderCreated" are not webhook types; the types are ContactCreated`},
		{"a canonical type", valid(func(b map[string]any) { b["types"] = []string{"client.create"} }), "types", `"client.create" is not a webhook type; the types are ContactCreated, ContactUpdated`},
		{"no url", valid(func(b map[string]any) { delete(b, "url") }), "url", "is required"},
		{"relative url", valid(func(b map[string]any) { b["url"] = "/hooks" }), "url", "absolute http or https URL"},
		{"ftp url", valid(func(b map[string]any) { b["url"] = "ftp://hooks.example.com/x" }), "url", "absolute http or https URL"},
		{"private network 10/8", valid(func(b map[string]any) { b["url"] = "http://10.0.0.1/hook" }), "url", "localhost and private networks are refused"},
		{"private network 192.168/16", valid(func(b map[string]any) { b["url"] = "https://192.168.1.1:8443/hook" }), "url", "private network"},
		{"localhost", valid(func(b map[string]any) { b["url"] = "http://localhost:9000/hook" }), "url", "loopback"},
		{"a name on a private network", valid(func(b map[string]any) { b["url"] = "https://intranet.example/hook" }), "url", `"intranet.example" resolves to 10.0.0.7, which is in 10.0.0.0/8 (private network)`},
		{"a name that does not resolve", valid(func(b map[string]any) { b["url"] = "https://nowhere.example/hook" }), "url", `host "nowhere.example" does not resolve`},
		{"cloud metadata", valid(func(b map[string]any) { b["url"] = "http://169.254.169.254/latest" }), "url", "link-local"},
		{"ipv6 loopback", valid(func(b map[string]any) { b["url"] = "http://[::1]:9000/hook" }), "url", "loopback"},
		{"url taken", valid(func(b map[string]any) { b["url"] = publicURL }), "url", "a webhook (" + strconv.FormatInt(existing.ID, 10) + ") is already registered for this url"},
		{"name too long", valid(func(b map[string]any) { b["name"] = strings.Repeat("n", 201) }), "name", "at most 200"},
		{"name not a string", valid(func(b map[string]any) { b["name"] = 7 }), "name", "must be a string"},
		{"secret key too long", valid(func(b map[string]any) { b["secretKey"] = strings.Repeat("k", 257) }), "secretKey", "at most 256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkInvalid(t, acme.Altoviz.Do("POST", webhooks, c.body), c.field, c.message)
		})
	}
	// Every problem at once.
	resp := acme.Altoviz.Do("POST", webhooks, map[string]any{"types": []string{"Nope"}, "url": "http://10.1.2.3/", "name": strings.Repeat("n", 300)})
	checkInvalid(t, resp, "types", `"Nope" is not a webhook type`)
	checkInvalid(t, resp, "url", "private network")
	checkInvalid(t, resp, "name", "at most 200")

	// A body over the node's limit is refused before it is read, in the same format.
	checkProblem(t, acme.Altoviz.Do("POST", webhooks, map[string]any{"name": strings.Repeat("n", 2<<20), "types": []string{"CustomerCreated"}, "url": publicURL + "/big"}),
		http.StatusRequestEntityTooLarge, "too large")

	// Nothing was stored by any of them.
	if got := ids(list(t, acme)); !slices.Equal(got, []int64{existing.ID}) {
		t.Errorf("lists %v after the refusals, want [%d]", got, existing.ID)
	}
	if n := subscriptionCount(t, acme); n != 1 {
		t.Errorf("%d subscriptions after the refusals, want 1", n)
	}
}

// TestRegistrationIsForgiving: what ASP.NET's model binding accepts, this accepts too.
func TestRegistrationIsForgiving(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	publicURL := nodetest.NewReceiver(t).URL + "/altoviz"
	acme := newCompany(t, node, "Acme")
	resp := acme.Altoviz.MustDo("POST", "/compat/altoviz/v1/Webhooks/", `{"Name": "Mixed", "TYPES": ["customercreated", "CustomerCreated", "INVOICEDELETED"], "Url": "`+publicURL+`", "secretkey": "k", "id": 0, "extra": {"ignored": true}}`, http.StatusCreated, nil)
	var w webhook
	strictJSON(t, resp.Body, &w)
	if w.Name != "Mixed" || !slices.Equal(w.Types, []string{"CustomerCreated", "InvoiceDeleted"}) || w.URL != publicURL || w.SecretKey == nil || *w.SecretKey != "k" {
		t.Errorf("registered %+v", w)
	}
	// No name, no secret key: both are optional.
	w = register(t, acme, map[string]any{"types": []string{"ProductUpdated"}, "url": publicURL + "/2", "secretKey": ""})
	if w.Name != "" || w.SecretKey != nil {
		t.Errorf("registered %+v", w)
	}
	if got := ids(list(t, acme)); len(got) != 2 {
		t.Errorf("lists %v", got)
	}
	// Other methods on the collection are 405 in the same format.
	resp = acme.Altoviz.Do("PUT", webhooks, map[string]any{})
	checkProblem(t, resp, http.StatusMethodNotAllowed, "PUT is not allowed")
	if allow := resp.Header.Get("Allow"); allow != "GET, POST, DELETE" {
		t.Errorf("Allow %q", allow)
	}
	// Paths the API does not have are problem details too.
	for _, path := range []string{"/compat/altoviz/v1/webhooks/7", "/compat/altoviz/v2/webhooks"} {
		resp := acme.Altoviz.Do("GET", path, nil)
		var p problem
		strictJSON(t, resp.Body, &p)
		if resp.Status != http.StatusNotFound || p.Status != http.StatusNotFound || p.Instance != path {
			t.Errorf("GET %s: %d %s", path, resp.Status, resp.Body)
		}
	}
}

// TestLoopbackNeedsTheOperatorsAllowance: a receiver on this machine is refused unless the
// operator's allowlist re-opens its address, and exactly that address.
func TestLoopbackNeedsTheOperatorsAllowance(t *testing.T) {
	t.Parallel()
	rc := nodetest.NewReceiver(t) // listens on 127.0.0.1
	strict := start(t, func(c *node.Config) { c.AllowPrivate = nil })
	acme := newCompany(t, strict, "Acme")
	checkInvalid(t, acme.Altoviz.Do("POST", webhooks, map[string]any{"types": []string{"CustomerCreated"}, "url": rc.URL}), "url", "127.0.0.1 is in 127.0.0.0/8 (loopback)")

	narrow := start(t, func(c *node.Config) {
		c.AllowPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	globex := newCompany(t, narrow, "Globex")
	register(t, globex, map[string]any{"types": []string{"CustomerCreated"}, "url": rc.URL})
	checkInvalid(t, globex.Altoviz.Do("POST", webhooks, map[string]any{"types": []string{"CustomerCreated"}, "url": "http://127.0.0.2:9/x"}), "url", "loopback")
	checkInvalid(t, globex.Altoviz.Do("POST", webhooks, map[string]any{"types": []string{"CustomerCreated"}, "url": "http://192.168.1.1/x"}), "url", "private network")
	if got := list(t, globex); len(got) != 1 || got[0].URL != rc.URL {
		t.Errorf("lists %+v", got)
	}
}

// TestRacingRegistrationsOfOneURL: registrations of one URL at once leave exactly one webhook and
// one subscription; the others are refused as a taken URL, and their subscriptions are removed.
func TestRacingRegistrationsOfOneURL(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	target := nodetest.NewReceiver(t).URL + "/race"
	acme := newCompany(t, node, "Acme")
	const n = 8
	statuses := make(chan *nodetest.Response, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- acme.Altoviz.Do("POST", webhooks, map[string]any{"types": []string{"InvoiceCreated"}, "url": target})
		}()
	}
	wg.Wait()
	close(statuses)
	created := 0
	for resp := range statuses {
		switch resp.Status {
		case http.StatusCreated:
			created++
		case http.StatusBadRequest:
			checkInvalid(t, resp, "url", "is already registered for this url")
		default:
			t.Errorf("status %d: %s", resp.Status, resp.Body)
		}
	}
	if created != 1 {
		t.Errorf("%d registrations succeeded, want 1", created)
	}
	if ws := list(t, acme); len(ws) != 1 {
		t.Errorf("lists %+v, want one webhook", ws)
	}
	if got := subscriptionCount(t, acme); got != 1 {
		t.Errorf("%d subscriptions, want 1: the refused registrations' subscriptions must go", got)
	}
}
