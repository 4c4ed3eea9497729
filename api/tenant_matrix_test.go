package api_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// The tenant matrix (issue 11): every route the node serves, called with the credentials of
// other tenants and the victim's ids, reveals and changes nothing of the victim's. The victim is
// one app in one account with data in every area (native subscriptions, one subscription through
// each vendor-compatible API, events, deliveries with attempts, Upsales log entries and
// notifications, credentials, the account's grant to its app, the account's SalesKing sub-domain).
// The attackers are another app granted the same account, an app of another account, and the
// victim's own app through credentials another account granted it, each with every kind of
// credential; and keys bound to no account: another app's that the victim's account granted its
// client events, one that may publish but was not issued for all accounts, and a platform's that
// was.
//
// The route list comes from the node itself, so a route added later without a row here fails the
// test until someone decides how tenants must see it.

// family is how a route takes a credential.
type family int

const (
	// bearer is "Authorization: Bearer": the native API, SalesKing's and iVvy's.
	bearer family = iota
	// apiKeyHeader is "x-api-key", the one header Altoviz's clients send.
	apiKeyHeader
	// clientPair is client_id and client_secret in the query, or in a POST's body: QuicklySign's.
	clientPair
	// iws is a request signed as iVvy's API signs them, with the key pair /compat/ivvy/api-key
	// gives the credential's holder.
	iws
)

// access is what a route may do for a caller who is not the victim.
type access int

const (
	// tenant routes name the victim's resources: refused with 401, 403 or 404.
	tenant access = iota
	// own routes act on the caller's own app and account only (lists, registrations, removal by
	// a filter): they may succeed, but must show and change nothing of the victim's.
	own
	// admin routes are the operator's: 401 or 403 to any app.
	admin
	// capability routes take an unguessable token in the URL as their only credential; the
	// victim's ids are no such token: 404.
	capability
	// shared routes show every caller the same thing, or the caller its own credential.
	shared
	// stub routes exist to answer 405 in a vendor's format (or refuse the credential first).
	stub
)

var allowedStatus = map[access][]int{
	tenant:     {http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound},
	admin:      {http.StatusUnauthorized, http.StatusForbidden},
	capability: {http.StatusNotFound},
	shared:     {http.StatusOK, http.StatusUnauthorized, http.StatusForbidden},
	stub:       {http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed},
}

// call is one request with the victim's ids. An empty method means each of the row's methods.
type call struct {
	method, target string
	body           any
	// access and api, when set, override the row's for this call.
	access *access
	api    *family
	// skip names credentials that may make this call by design, and why.
	skip map[string]string
}

// row is one or more routes (methods on one registered path) and how other tenants must fare.
type row struct {
	methods, path string
	api           family
	access        access
	// why says, for every access but tenant, why the route is not the victim's to guard.
	why   string
	calls []call
	// also allows further statuses, saying why each reveals nothing.
	also map[int]string
	// skip names credentials that may do this by design, and why.
	skip map[string]string
}

// cred is a credential and what its holder knows already: its own app's and account's ids.
type cred struct {
	name  string
	issue *engine.IssuedCredential
	knows []string
	// iwsKey and iwsSecret are its iVvy key pair, once asked for.
	iwsKey, iwsSecret string
}

// tokenCred is a credential known by its token alone.
func tokenCred(name, token string, knows ...string) *cred {
	return &cred{name: name, issue: &engine.IssuedCredential{Credential: &engine.Credential{}, Token: token}, knows: knows}
}

// token is what the credential presents as a bearer token or API key. A client credential has
// none; it presents its pair joined the way tokens are, which no bearer route accepts.
func (c *cred) token() string {
	if c.issue.Token != "" {
		return c.issue.Token
	}
	return c.issue.ClientID + "." + c.issue.ClientSecret
}

// pair is what the credential presents as client_id and client_secret: a token split where its
// id ends, which no client route accepts.
func (c *cred) pair() (id, secret string) {
	if c.issue.ClientID != "" {
		return c.issue.ClientID, c.issue.ClientSecret
	}
	i := strings.LastIndexByte(c.issue.Token, '.')
	return c.issue.Token[:i], c.issue.Token[i+1:]
}

// do calls target the way routes of api take credentials.
func (c *cred) do(t *testing.T, node *nodetest.Node, api family, method, target string, body any) *nodetest.Response {
	t.Helper()
	if api == iws {
		return c.signed(t, node, method, target, body)
	}
	client := node.Client(c.token()).WithT(t)
	switch api {
	case apiKeyHeader:
		client.Header = "x-api-key"
	case clientPair:
		client.Token = ""
		id, secret := c.pair()
		if m, isMap := body.(map[string]any); isMap && method == http.MethodPost {
			withPair := map[string]any{"client_id": id, "client_secret": secret}
			for k, v := range m {
				withPair[k] = v
			}
			body = withPair
		} else {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + url.Values{"client_id": {id}, "client_secret": {secret}}.Encode()
		}
	}
	return client.Do(method, target, body)
}

// iwsPair is the credential's iVvy key pair, asked for once. A credential that has none (a
// client's) gets its id and a made-up secret, which sign nothing the node accepts.
func (c *cred) iwsPair(t *testing.T, node *nodetest.Node) (key, secret string) {
	t.Helper()
	if c.iwsKey == "" {
		var pair struct{ APIKey, APISecret string }
		if r := c.do(t, node, bearer, "GET", "/compat/ivvy/api-key", nil); r.Status == http.StatusOK {
			r.JSON(t, &pair)
		} else {
			pair.APIKey, pair.APISecret = c.issue.ID, strings.Repeat("0", 64)
		}
		c.iwsKey, c.iwsSecret = pair.APIKey, pair.APISecret
	}
	return c.iwsKey, c.iwsSecret
}

// signed sends a JSON body signed with the credential's iVvy key pair.
func (c *cred) signed(t *testing.T, node *nodetest.Node, method, target string, body any) *nodetest.Response {
	t.Helper()
	key, secret := c.iwsPair(t, node)
	return iwsRequest(t, node, method, target, key, secret, body)
}

// victim is the tenant whose data the matrix guards.
type victim struct {
	node     *nodetest.Node
	tn       *nodetest.Tenant
	key      *cred // an API key bound to the account: Altoviz's and iVvy's credential
	token    *cred // an access token the account granted: SalesKing's
	client   *cred // a client credential bound to the account: QuicklySign's
	base     string
	doc      string
	subs     map[string]string // by style: standard, failing, altoviz, quicklysign, salesking, ivvy, upsales
	altoviz  int64
	events   []string
	dead     string // a dead delivery, which its owner may retry
	grant    string // the account's grant to the victim's app
	delivery []string
	logs     []string
	notes    []string
	topic    string
	// markers are what identifies the victim, by what it is; no attacker's answer may hold one.
	markers map[string]string
}

func nonce(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newVictim gives one app in one account data in every area, and waits until every delivery has
// come to rest, so that what the victim reads changes only if someone changes it.
func newVictim(t *testing.T, node *nodetest.Node) *victim {
	t.Helper()
	n := nonce(t)
	rc := nodetest.NewReceiver(t)
	base := rc.URL + "/victim-" + n
	// Every style's receiver: QuicklySign counts only 200, Upsales reads its callback from the
	// answer, and /fail makes a delivery that dies.
	rc.SetRespond(func(_ int, r *nodetest.Request) (int, http.Header, string) {
		switch {
		case strings.HasPrefix(r.Path, "/victim-"+n+"/fail"):
			return http.StatusInternalServerError, nil, ""
		case strings.HasPrefix(r.Path, "/victim-"+n+"/upsales/"):
			return http.StatusOK, http.Header{"Content-Type": {"application/json"}},
				`{"callback": {"status": 1, "message": "victim log ` + n + `", "notify": "victim note ` + n + `"}}`
		}
		return http.StatusOK, nil, ""
	})
	tn := node.NewTenant("victim", base)
	bound := func(name string, in engine.NewCredential) *cred {
		in.AccountID = tn.AccountID
		return &cred{name: name, issue: node.Credential(tn.AppID, in)}
	}
	v := &victim{
		node: node, tn: tn, base: base, doc: "doc-" + n, subs: map[string]string{},
		key:    bound("key", engine.NewCredential{Kind: engine.CredentialAPIKey, Primary: true}),
		token:  bound("token", engine.NewCredential{Kind: engine.CredentialAccessToken, Scopes: []string{"clients"}}),
		client: bound("client", engine.NewCredential{Kind: engine.CredentialClient}),
	}
	secrets := map[string]string{}

	var std, failing, up subscription
	tn.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"client.*"}, "url": base + "/std"}, http.StatusCreated, &std)
	tn.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard", "events": []string{"client.*"}, "url": base + "/fail",
		"retry_policy": map[string]any{"schedule": []string{"0s"}}}, http.StatusCreated, &failing)
	tn.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "upsales", "events": []string{"client.create"}, "url": base + "/upsales"}, http.StatusCreated, &up)
	v.subs["standard"], v.subs["failing"], v.subs["upsales"] = std.ID, failing.ID, up.ID
	secrets["standard signing secret"], secrets["failing signing secret"] = std.Secret, failing.Secret

	var hook struct{ ID int64 }
	v.key.do(t, node, apiKeyHeader, "POST", "/compat/altoviz/v1/webhooks", map[string]any{
		"name": "victim hook " + n, "types": []string{"CustomerCreated"}, "url": base + "/altoviz", "secretKey": "victim-altoviz-key-" + n,
	}).JSON(t, &hook)
	v.altoviz = hook.ID
	secrets["altoviz secretKey"] = "victim-altoviz-key-" + n

	var qs struct {
		Data struct{ Subscription struct{ Key string } }
	}
	v.client.do(t, node, clientPair, "POST", "/compat/quicklysign/v0/subscriptions", map[string]any{
		"subscription": map[string]string{"entity_key": v.doc, "callback": base + "/qs"},
	}).JSON(t, &qs)

	var sk struct{ Sub struct{ ID string } }
	v.token.do(t, node, bearer, "POST", "/compat/salesking/api/subs", map[string]any{
		"sub": map[string]string{"channel": "client.create", "callback_url": base + "/sk"},
	}).JSON(t, &sk)
	node.Admin.MustDo("PUT", "/compat/salesking/admin/companies/"+tn.AccountID, map[string]string{"sub_domain": "company-" + n}, http.StatusOK, nil)

	var endpoints struct{ CompaniesTopicID string }
	v.key.do(t, node, bearer, "POST", "/compat/ivvy/api/1.0/account?action=subscribeToNotifications", map[string]string{"companiesEndpoint": base + "/ivvy"}).JSON(t, &endpoints)
	v.topic = endpoints.CompaniesTopicID
	snsToken := v.confirmIVvy(t, rc)
	_, secrets["iVvy API secret"] = v.key.iwsPair(t, node)

	for style, id := range map[string]string{"quicklysign": qs.Data.Subscription.Key, "salesking": sk.Sub.ID} {
		if id == "" {
			t.Fatalf("the %s subscription was not made", style)
		}
		v.subs[style] = id
	}
	// The Altoviz and iVvy APIs do not show subscription ids; the native API does.
	for _, format := range []string{"altoviz", "ivvy"} {
		var subs listOf[engine.Subscription]
		tn.App.MustDo("GET", "/v1/subscriptions?format="+format, nil, http.StatusOK, &subs)
		for _, s := range subs.Data {
			v.subs[s.Format] = s.ID
		}
	}
	if v.altoviz == 0 || v.topic == "" || len(v.subs) != 7 {
		t.Fatalf("the victim's subscriptions: %v, altoviz webhook %d, iVvy topic %q", v.subs, v.altoviz, v.topic)
	}

	marker := "victim-payload-" + n
	for _, ev := range []map[string]any{
		{"type": "client.create", "entity": map[string]string{"type": "client", "id": "42"}, "user": map[string]string{"id": "7", "name": "Victim User"}},
		{"type": "document.update", "entity": map[string]string{"type": "document", "id": v.doc}},
	} {
		ev["account_id"], ev["data"] = tn.AccountID, map[string]string{"marker": marker}
		var p engine.Published
		tn.App.MustDo("POST", "/v1/events", ev, http.StatusAccepted, &p)
		v.events = append(v.events, p.ID)
	}
	v.settle(t)
	var grants listOf[engine.Grant]
	node.Admin.MustDo("GET", "/v1/accounts/"+tn.AccountID+"/grants", nil, http.StatusOK, &grants)
	if len(grants.Data) != 1 {
		t.Fatalf("the victim account's grants: %+v", grants.Data)
	}
	v.grant = grants.Data[0].ID

	v.markers = map[string]string{
		"grant":      v.grant,
		"account id": tn.AccountID, "app id": tn.AppID, "app URL": base, "app secret": tn.AppSecret,
		"payload": marker, "log message": "victim log " + n, "notification": "victim note " + n,
		"SalesKing sub-domain": "company-" + n, "iVvy topic": v.topic, "SNS token": snsToken,
	}
	for _, c := range []*cred{v.key, v.token, v.client, tokenCred("publisher", tn.Token)} {
		id, secret := c.pair()
		v.markers[c.name+" id"], v.markers[c.name+" secret"] = id, secret
	}
	v.markers["client credential id"] = v.client.issue.ID
	for name, s := range secrets {
		v.markers[name] = s
	}
	for style, id := range v.subs {
		v.markers[style+" subscription"] = id
	}
	for _, kind := range []struct {
		prefix string
		ids    []string
	}{{"event", v.events}, {"delivery", v.delivery}, {"log entry", v.logs}, {"notification", v.notes}} {
		for i, id := range kind.ids {
			v.markers[kind.prefix+" "+strconv.Itoa(i)] = id
		}
	}
	for name, m := range v.markers {
		if len(m) < 8 {
			t.Fatalf("the victim's %s %q is too short to search answers for", name, m)
		}
	}
	return v
}

// confirmIVvy visits the SubscribeURL of the iVvy subscription's confirmation, as its receiver
// would, and returns the token in it: the one secret that URL holds.
func (v *victim) confirmIVvy(t *testing.T, rc *nodetest.Receiver) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range rc.Requests() {
			var m struct{ Type, SubscribeURL string }
			if !strings.HasSuffix(r.Path, "/ivvy") || json.Unmarshal(r.Body, &m) != nil || m.Type != "SubscriptionConfirmation" {
				continue
			}
			resp, err := v.node.HTTPClient().Get(m.SubscribeURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			u, err := url.Parse(m.SubscribeURL)
			if resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("confirming %s: %d %v", m.SubscribeURL, resp.StatusCode, err)
			}
			return u.Query().Get("Token")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the iVvy receiver got no SubscriptionConfirmation")
	return ""
}

// settle waits until the victim's eight deliveries (the iVvy handshake, six for the client event,
// one for the document) are done, one of them dead, and the Upsales callback has left its log
// entry and notification.
func (v *victim) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var dels listOf[engine.Delivery]
		v.tn.App.MustDo("GET", "/v1/deliveries?limit=200", nil, http.StatusOK, &dels)
		var logs listOf[struct{ ID string }]
		v.tn.App.MustDo("GET", "/v1/logs", nil, http.StatusOK, &logs)
		var notes listOf[struct{ ID string }]
		v.tn.App.MustDo("GET", "/v1/notifications", nil, http.StatusOK, &notes)
		v.delivery, v.logs, v.notes, v.dead = nil, nil, nil, ""
		done := 0
		for _, d := range dels.Data {
			v.delivery = append(v.delivery, d.ID)
			switch d.State {
			case engine.DeliverySucceeded:
				done++
			case engine.DeliveryDead:
				done++
				v.dead = d.ID
			}
		}
		for _, l := range logs.Data {
			v.logs = append(v.logs, l.ID)
		}
		for _, n := range notes.Data {
			v.notes = append(v.notes, n.ID)
		}
		if len(dels.Data) == 8 && done == 8 && v.dead != "" && len(v.logs) == 1 && len(v.notes) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the victim's deliveries did not settle: %+v; %d log entries, %d notifications", dels.Data, len(v.logs), len(v.notes))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// read is one of the victim's own reads.
type read struct {
	name   string
	c      *cred
	api    family
	method string
	target string
	body   any
}

// reads are everything the victim can read of its own, each through the credential and API it
// was made with: if any changes, someone changed the victim's data (or revoked a credential).
func (v *victim) reads() []read {
	publisher, admin := tokenCred("publisher", v.tn.Token), tokenCred("admin", nodetest.AdminToken)
	rs := []read{
		{"subscriptions in the account", publisher, bearer, "GET", "/v1/subscriptions?limit=200&account_id=" + v.tn.AccountID, nil},
		{"log entries", publisher, bearer, "GET", "/v1/logs?limit=200&account_id=" + v.tn.AccountID, nil},
		{"notifications", publisher, bearer, "GET", "/v1/notifications?limit=200&account_id=" + v.tn.AccountID, nil},
		{"plugins", publisher, bearer, "GET", "/v1/plugins", nil},
		{"account", admin, bearer, "GET", "/v1/accounts/" + v.tn.AccountID, nil},
		{"grants", admin, bearer, "GET", "/v1/accounts/" + v.tn.AccountID + "/grants", nil},
		{"app", admin, bearer, "GET", "/v1/apps/" + v.tn.AppID, nil},
		{"SalesKing company", admin, bearer, "GET", "/compat/salesking/admin/companies/" + v.tn.AccountID, nil},
		{"Altoviz webhooks", v.key, apiKeyHeader, "GET", "/compat/altoviz/v1/webhooks", nil},
		{"QuicklySign subscriptions", v.client, clientPair, "GET", "/compat/quicklysign/v0/subscriptions", nil},
		{"QuicklySign callbacks", v.client, clientPair, "GET", "/compat/quicklysign/v0/subscriptions/" + v.subs["quicklysign"] + "/callbacks", nil},
		{"SalesKing subs", v.token, bearer, "GET", "/compat/salesking/api/subs", nil},
		// Subscribing to no endpoint changes nothing and answers every endpoint's state.
		{"iVvy endpoints", v.key, bearer, "POST", "/compat/ivvy/api/1.0/account?action=subscribeToNotifications", map[string]string{}},
		// That every read answers 200 also shows that each way of presenting a credential works.
		{"iVvy endpoints, signed", v.key, iws, "POST", "/compat/ivvy/api/1.0/account?action=subscribeToNotifications", map[string]string{}},
	}
	for style, id := range v.subs {
		rs = append(rs,
			read{style + " subscription", publisher, bearer, "GET", "/v1/subscriptions/" + id, nil},
			read{style + " deliveries", publisher, bearer, "GET", "/v1/deliveries?limit=200&subscription_id=" + id, nil})
	}
	for _, id := range v.delivery {
		rs = append(rs, read{"delivery " + id, publisher, bearer, "GET", "/v1/deliveries/" + id, nil})
	}
	for _, id := range v.events {
		rs = append(rs, read{"event " + id, publisher, bearer, "GET", "/v1/events/" + id, nil})
	}
	for _, id := range v.logs {
		rs = append(rs, read{"log entry " + id, publisher, bearer, "GET", "/v1/logs/" + id, nil})
	}
	return rs
}

// snapshot is the status and body of each of the victim's reads, by name.
func (v *victim) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range v.reads() {
		resp := r.c.do(t, v.node, r.api, r.method, r.target, r.body)
		out[r.name] = strconv.Itoa(resp.Status) + " " + string(resp.Body)
	}
	return out
}

// leaks names the victim's markers in an answer, but for those the caller sent or knows.
func (v *victim) leaks(resp *nodetest.Response, sent string, knows []string) []string {
	answer := string(resp.Body)
	for name, values := range resp.Header {
		answer += "\n" + name + ": " + strings.Join(values, ", ")
	}
	var found []string
	for name, m := range v.markers {
		if strings.Contains(sent, m) || slices.Contains(knows, m) {
			continue
		}
		if strings.Contains(answer, m) {
			found = append(found, name)
		}
	}
	sort.Strings(found)
	return found
}

// attackers are every other tenant's credentials of every kind.
func attackers(t *testing.T, node *nodetest.Node, v *victim, appURL string) []*cred {
	t.Helper()
	sameAccount := node.NewTenant("another app of the account", appURL)
	elsewhere := node.NewTenant("another account", appURL)
	var out []*cred
	for _, who := range []struct {
		name, app, account string
		knows              []string
	}{
		{"another app, same account", sameAccount.AppID, v.tn.AccountID, nil},
		{"another account", elsewhere.AppID, elsewhere.AccountID, nil},
		// The victim's own app, through what another account granted it.
		{"the victim app for another account", v.tn.AppID, elsewhere.AccountID, []string{v.base}},
	} {
		knows := append([]string{who.app, who.account}, who.knows...)
		for _, in := range []engine.NewCredential{
			{Kind: engine.CredentialAPIKey, Primary: true, Scopes: []string{engine.ScopePublish}},
			{Kind: engine.CredentialAccessToken, Scopes: []string{"clients", "invoices", "documents"}},
			{Kind: engine.CredentialClient},
		} {
			in.AccountID = who.account
			if who.account == v.tn.AccountID {
				// Publishing for the account is the account's grant to give; reading its events back
				// comes with it. This app was granted subscribing only.
				in.Scopes = slices.DeleteFunc(in.Scopes, func(s string) bool { return s == engine.ScopePublish })
			}
			out = append(out, &cred{name: who.name + ": " + string(in.Kind), issue: node.Credential(who.app, in), knows: knows})
		}
	}
	// An app the victim's account granted its client events, through a key of the whole app: it
	// may subscribe to the account, within the grant, and must see nothing else of it.
	node.Grant(v.tn.AccountID, sameAccount.AppID, "client.*")
	out = append(out, &cred{name: grantedApp, issue: node.Credential(sameAccount.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey}),
		knows: []string{sameAccount.AppID, v.tn.AccountID}})
	// A key that may publish but that no account, and not the operator for all accounts, granted.
	out = append(out, &cred{name: "another account's app: unbound publisher, not for all accounts",
		issue: node.Credential(elsewhere.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey, Scopes: []string{engine.ScopePublish}}),
		knows: []string{elsewhere.AppID, elsewhere.AccountID, v.tn.AccountID}})
	// The platform names every account, the victim's too.
	out = append(out, tokenCred(platformPublisher, elsewhere.Token, elsewhere.AppID, elsewhere.AccountID, v.tn.AccountID))
	return out
}

// platformPublisher is an app's API key that may publish, bound to no account and issued for all
// accounts: the publishing platform's credential, which publishes for every account.
const platformPublisher = "another account's app: all_accounts publisher"

// grantedApp is another app's key of its whole app, which the victim's account granted its client
// events.
const grantedApp = "another app, granted the account's client events: unbound api_key"

var platformPublishes = map[string]string{
	platformPublisher: "an all_accounts events:publish key publishes for every account, so it may publish and read back any account's events",
}

// subscribesToVictim are the credentials the victim's account granted: they may subscribe their
// own app to it.
var subscribesToVictim = map[string]string{
	"another app, same account: api_key":      "bound to the victim's account, which granted it",
	"another app, same account: access_token": "bound to the victim's account, which granted it",
	grantedApp: "the victim's account granted its app client.*",
}

func ptr[T any](v T) *T { return &v }

// withoutKey is m without key.
func withoutKey(m map[string]string, key string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// matrix is every route the node serves, with calls that name the victim's data.
func matrix(v *victim, attackerURL string) []row {
	subs := make([]string, 0, len(v.subs))
	for _, id := range v.subs {
		subs = append(subs, id)
	}
	sort.Strings(subs)
	each := func(method, format string, ids []string, body any) []call {
		var out []call
		for _, id := range ids {
			out = append(out, call{method: method, target: strings.ReplaceAll(format, "{}", id), body: body})
		}
		return out
	}
	// at calls each target with each of the row's methods.
	at := func(targets ...string) []call {
		var out []call
		for _, target := range targets {
			out = append(out, call{target: target})
		}
		return out
	}
	acct, app := v.tn.AccountID, v.tn.AppID
	event := map[string]any{"account_id": acct, "type": "client.create", "entity": map[string]string{"type": "client", "id": "43"}, "data": map[string]string{"planted": "yes"}}
	qsKey, skID := v.subs["quicklysign"], v.subs["salesking"]
	altovizID := strconv.FormatInt(v.altoviz, 10)
	namesApp := map[int]string{http.StatusUnprocessableEntity: "the query or body names another app: refused as invalid before anything is looked up"}
	skBody := map[string]any{"sub": map[string]string{"channel": "client.create", "callback_url": attackerURL}}
	qsBody := func(object string) map[string]any {
		return map[string]any{object: map[string]string{"entity_key": v.doc, "callback": attackerURL}}
	}
	// Every id of the victim's, offered where an unguessable token belongs.
	tokens := slices.Concat(subs, v.delivery, v.events, v.logs, v.notes)
	sns := func(path string) []call {
		var out []call
		for _, id := range []string{v.subs["ivvy"], v.dead} {
			out = append(out,
				call{target: path + "?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(v.topic) + "&Token=" + id},
				call{target: path + "?Action=Unsubscribe&SubscriptionArn=" + url.QueryEscape(v.topic+":"+id) + "&Token=" + id})
		}
		return out
	}

	return []row{
		// Public.
		{methods: "GET", path: "/healthz", access: shared, why: "liveness, the same for everyone", calls: at("/healthz")},
		{methods: "GET", path: "/readyz", access: shared, why: "readiness, the same for everyone", calls: at("/readyz")},
		{methods: "GET", path: "/v1/openapi.json", access: shared, why: "the API's description, the same for everyone", calls: at("/v1/openapi.json")},
		{methods: "GET", path: v.node.ServerKey.CertificatePath(), access: shared, why: "the server's signing certificate, which receivers fetch", calls: at(v.node.ServerKey.CertificatePath())},

		// The operator's.
		{methods: "GET", path: "/metrics", access: admin, why: "operator: per-format figures of the whole node", calls: at("/metrics")},
		{methods: "GET", path: "/v1/stats", access: admin, why: "operator: the node's figures, as /metrics", calls: at("/v1/stats")},
		{methods: "POST", path: "/v1/accounts", access: admin, why: "operator", calls: []call{{target: "/v1/accounts", body: map[string]string{"name": "planted"}}}},
		{methods: "GET", path: "/v1/accounts", access: admin, why: "operator", calls: at("/v1/accounts")},
		{methods: "GET", path: "/v1/accounts/:id", access: admin, why: "operator", calls: at("/v1/accounts/" + acct)},
		{methods: "POST", path: "/v1/accounts/:id/grants", access: admin, why: "operator: the platform speaks for its accounts", calls: []call{
			{target: "/v1/accounts/" + acct + "/grants", body: map[string]any{"app_id": app, "events": []string{"*"}}}}},
		{methods: "GET", path: "/v1/accounts/:id/grants", access: admin, why: "operator", calls: at("/v1/accounts/" + acct + "/grants")},
		{methods: "DELETE", path: "/v1/accounts/:id/grants/:grant_id", access: admin, why: "operator", calls: at("/v1/accounts/" + acct + "/grants/" + v.grant)},
		{methods: "GET", path: "/v1/accounts/:id/users", access: admin, why: "operator: the platform tells its accounts' users", calls: at("/v1/accounts/" + acct + "/users")},
		{methods: "PUT", path: "/v1/accounts/:id/users/:user_id", access: admin, why: "operator", calls: []call{
			{target: "/v1/accounts/" + acct + "/users/7", body: map[string]any{"permissions": []string{"*"}}}}},
		{methods: "GET DELETE", path: "/v1/accounts/:id/users/:user_id", access: admin, why: "operator", calls: at("/v1/accounts/" + acct + "/users/7")},
		{methods: "POST", path: "/v1/apps", access: admin, why: "operator", calls: []call{{target: "/v1/apps", body: map[string]string{"name": "planted"}}}},
		{methods: "GET", path: "/v1/apps", access: admin, why: "operator", calls: at("/v1/apps")},
		{methods: "GET", path: "/v1/apps/:id", access: admin, why: "operator", calls: at("/v1/apps/" + app)},
		{methods: "POST", path: "/v1/apps/:id/credentials", access: admin, why: "operator", calls: []call{{target: "/v1/apps/" + app + "/credentials", body: map[string]any{"kind": "api_key", "account_id": acct}}}},
		{methods: "GET", path: "/v1/apps/:id/credentials", access: admin, why: "operator", calls: at("/v1/apps/"+app+"/credentials", "/v1/apps/"+app+"/credentials?limit=1")},
		{methods: "POST", path: "/v1/apps/:id/portal-sessions", access: admin, why: "operator: a portal link acts as the app", calls: at("/v1/apps/" + app + "/portal-sessions")},
		{methods: "DELETE", path: "/v1/apps/:id/portal-sessions", access: admin, why: "operator: ends the app's portal sessions", calls: at("/v1/apps/" + app + "/portal-sessions")},
		{methods: "DELETE", path: "/v1/credentials/:id", access: admin, why: "operator", calls: each("", "/v1/credentials/{}", []string{v.markers["key id"], v.markers["token id"], v.markers["client credential id"], v.markers["publisher id"]}, nil)},
		{methods: "PUT", path: "/v1/plugins/:name", access: admin, why: "operator", calls: []call{{target: "/v1/plugins/standard", body: "\x00asm planted"}, {target: "/v1/plugins/planted", body: "\x00asm planted"}}},
		{methods: "DELETE", path: "/v1/plugins/:name", access: admin, why: "operator", calls: at("/v1/plugins/standard", "/v1/plugins/upsales")},
		{methods: "PUT", path: "/compat/salesking/admin/companies/:account_id", access: admin, why: "operator", calls: []call{{target: "/compat/salesking/admin/companies/" + acct, body: map[string]string{"sub_domain": "planted"}}}},
		{methods: "GET", path: "/compat/salesking/admin/companies/:account_id", access: admin, why: "operator", calls: at("/compat/salesking/admin/companies/" + acct)},

		// The native API.
		{methods: "POST", path: "/v1/subscriptions", also: namesApp, calls: []call{
			{target: "/v1/subscriptions", body: map[string]any{"app_id": app, "account_id": acct, "format": "standard", "events": []string{"*"}, "url": attackerURL}},
			// Subscribing the caller's own app to the victim's account needs the account's grant.
			{target: "/v1/subscriptions", body: map[string]any{"account_id": acct, "format": "standard", "events": []string{"client.*"}, "url": attackerURL}, skip: subscribesToVictim},
			// Even the app granted client.* may not ask for more.
			{target: "/v1/subscriptions", body: map[string]any{"account_id": acct, "format": "standard", "events": []string{"*"}, "url": attackerURL}, skip: withoutKey(subscribesToVictim, grantedApp)},
		}},
		{methods: "GET", path: "/v1/subscriptions", access: own, why: "lists the caller's own", calls: at("/v1/subscriptions", "/v1/subscriptions?account_id="+acct, "/v1/subscriptions?app_id="+app,
			"/v1/subscriptions?url="+url.QueryEscape(v.base+"/std"), "/v1/subscriptions?entity_key="+v.doc, "/v1/subscriptions?format=ivvy")},
		{methods: "GET", path: "/v1/subscriptions/:id", calls: each("", "/v1/subscriptions/{}", subs, nil)},
		{methods: "PATCH", path: "/v1/subscriptions/:id", calls: each("", "/v1/subscriptions/{}", subs, map[string]any{"state": "disabled", "url": attackerURL})},
		{methods: "DELETE", path: "/v1/subscriptions/:id", calls: each("", "/v1/subscriptions/{}", subs, nil)},
		{methods: "POST", path: "/v1/subscriptions/:id/replay", calls: each("", "/v1/subscriptions/{}/replay", subs, map[string]string{"since": "2000-01-01T00:00:00Z"})},
		{methods: "POST", path: "/v1/subscriptions/:id/pause", calls: each("", "/v1/subscriptions/{}/pause", subs, nil)},
		{methods: "POST", path: "/v1/subscriptions/:id/resume", calls: each("", "/v1/subscriptions/{}/resume", subs, nil)},
		{methods: "POST", path: "/v1/subscriptions/:id/example", calls: each("", "/v1/subscriptions/{}/example", subs, map[string]string{"type": "client.create"})},
		{methods: "POST", path: "/v1/subscriptions/:id/rotate-secret", calls: each("", "/v1/subscriptions/{}/rotate-secret", subs, map[string]string{"secret": "planted-secret-0123456789"})},
		{methods: "POST", path: "/v1/events", skip: platformPublishes, calls: []call{{target: "/v1/events", body: event}}},
		{methods: "POST", path: "/v1/events/batch", skip: platformPublishes, calls: []call{{target: "/v1/events/batch", body: map[string]any{"events": []any{event}}}}},
		{methods: "GET", path: "/v1/events", access: own, why: "lists the events of the accounts the caller publishes into", skip: platformPublishes,
			calls: at("/v1/events", "/v1/events?account_id="+acct, "/v1/events?type=client.create", "/v1/events?account_id="+acct+"&type=document.update&since=2000-01-01T00:00:00Z")},
		{methods: "GET", path: "/v1/events/:id", skip: platformPublishes, calls: each("", "/v1/events/{}", v.events, nil)},
		{methods: "GET", path: "/v1/deliveries", access: own, why: "lists the caller's own", also: namesApp, calls: append(append(
			at("/v1/deliveries", "/v1/deliveries?status=dead", "/v1/deliveries?app_id="+app, "/v1/deliveries?account_id="+acct,
				"/v1/deliveries?type=client.create&since=2000-01-01T00:00:00Z"),
			each("GET", "/v1/deliveries?subscription_id={}", subs, nil)...),
			each("GET", "/v1/deliveries?event_id={}", v.events, nil)...)},
		{methods: "GET", path: "/v1/deliveries/:id", calls: each("", "/v1/deliveries/{}", v.delivery, nil)},
		{methods: "POST", path: "/v1/deliveries/:id/retry", calls: each("", "/v1/deliveries/{}/retry", v.delivery, nil)},
		// The victim's dead delivery is among its reads: retrying it would change them.
		{methods: "POST", path: "/v1/deliveries/retry", access: own, why: "retries the caller's own deliveries", calls: append(
			[]call{{target: "/v1/deliveries/retry"}, {target: "/v1/deliveries/retry", body: map[string]any{"status": "dead"}},
				{target: "/v1/deliveries/retry", body: map[string]any{"status": "pending", "since": "2000-01-01T00:00:00Z"}}},
			retryEach(subs)...)},
		{methods: "POST", path: "/v1/deliveries/:id/skip", calls: each("", "/v1/deliveries/{}/skip", v.delivery, nil)},
		{methods: "GET", path: "/v1/plugins", access: shared, why: "the node's formats, the same for every caller; their counters are the operator's", calls: at("/v1/plugins")},
		{methods: "GET", path: "/v1/plugins/:name", access: shared, why: "one of the node's formats", calls: at("/v1/plugins/standard", "/v1/plugins/upsales")},
		{methods: "POST", path: "/v1/portal/exchange", access: capability, why: "the portal link's code is the credential",
			also:  map[int]string{http.StatusUnauthorized: "no code of a link: refused, naming nothing"},
			calls: portalCodes(tokens)},
		{methods: "GET", path: "/console", access: shared, why: "the console's files, the same for everyone; data comes through /v1", calls: at("/console")},
		{methods: "GET", path: "/console/*", access: shared, why: "the console's files, the same for everyone; data comes through /v1", also: map[int]string{http.StatusNotFound: "no such file: the same for everyone"}, calls: at("/console/", "/console/app.js", "/console/"+app)},
		{methods: "GET", path: "/hooks/subscriptions/:token/confirm", access: capability, why: "the confirmation token is the credential", calls: each("", "/hooks/subscriptions/{}/confirm", tokens, nil)},
		{methods: "GET", path: "/hooks/subscriptions/:token/unsubscribe", access: capability, why: "the confirmation token is the credential", calls: each("", "/hooks/subscriptions/{}/unsubscribe", tokens, nil)},

		// Upsales, in the native API.
		{methods: "GET", path: "/v1/logs", access: own, why: "lists the caller's own", also: namesApp, calls: at("/v1/logs", "/v1/logs?account_id="+acct, "/v1/logs?app_id="+app)},
		{methods: "GET", path: "/v1/logs/:id", calls: each("", "/v1/logs/{}", v.logs, nil)},
		{methods: "GET", path: "/v1/notifications", access: own, why: "lists the caller's own", also: namesApp, calls: at("/v1/notifications", "/v1/notifications?account_id="+acct, "/v1/notifications?user_id=7", "/v1/notifications?app_id="+app)},
		{methods: "POST", path: "/v1/notifications/:id/open", calls: each("", "/v1/notifications/{}/open", v.notes, nil)},
		{methods: "POST", path: "/hooks/upsales/callbacks/:token", access: capability, why: "the callback token is the credential", calls: each("", "/hooks/upsales/callbacks/{}", tokens, map[string]any{"status": 0, "message": "planted", "notify": "planted"})},

		// Altoviz.
		{methods: "POST", path: "/compat/altoviz/v1/webhooks", api: apiKeyHeader, access: own, why: "registers for the key's own app and company",
			calls: []call{{target: "/compat/altoviz/v1/webhooks", body: map[string]any{"name": "planted", "types": []string{"CustomerCreated"}, "url": attackerURL}}}},
		{methods: "GET", path: "/compat/altoviz/v1/webhooks", api: apiKeyHeader, access: own, why: "lists the key's own", calls: at("/compat/altoviz/v1/webhooks", "/compat/altoviz/v1/Webhooks")},
		{methods: "DELETE", path: "/compat/altoviz/v1/webhooks", api: apiKeyHeader, calls: at("/compat/altoviz/v1/webhooks?id="+altovizID, "/compat/altoviz/v1/webhooks?url="+url.QueryEscape(v.base+"/altoviz"))},
		{methods: "CONNECT HEAD OPTIONS PATCH PROPFIND PUT REPORT TRACE", path: "/compat/altoviz/v1/webhooks", api: apiKeyHeader, access: stub, why: "405 in Altoviz's format",
			calls: at("/compat/altoviz/v1/webhooks?id=" + altovizID)},

		// QuicklySign, v0 and v1.
		{methods: "POST", path: "/compat/quicklysign/v0/subscriptions", api: clientPair, access: own, why: "subscribes the client's own app and account", calls: []call{{target: "/compat/quicklysign/v0/subscriptions", body: qsBody("subscription")}}},
		{methods: "POST", path: "/compat/quicklysign/v0/subscriptions/", api: clientPair, access: own, why: "subscribes the client's own app and account", calls: []call{{target: "/compat/quicklysign/v0/subscriptions/", body: qsBody("subscription")}}},
		{methods: "POST", path: "/compat/quicklysign/v1/webhooks", api: clientPair, access: own, why: "subscribes the client's own app and account", calls: []call{{target: "/compat/quicklysign/v1/webhooks", body: qsBody("webhook")}}},
		{methods: "POST", path: "/compat/quicklysign/v1/webhooks/", api: clientPair, access: own, why: "subscribes the client's own app and account", calls: []call{{target: "/compat/quicklysign/v1/webhooks/", body: qsBody("webhook")}}},
		{methods: "GET DELETE", path: "/compat/quicklysign/v0/subscriptions", api: clientPair, access: own, why: "lists, or removes by document, the client's own", calls: at("/compat/quicklysign/v0/subscriptions?entity_key=" + v.doc)},
		{methods: "GET DELETE", path: "/compat/quicklysign/v0/subscriptions/", api: clientPair, access: own, why: "lists, or removes by document, the client's own", calls: at("/compat/quicklysign/v0/subscriptions/?entity_key=" + v.doc)},
		{methods: "GET DELETE", path: "/compat/quicklysign/v1/webhooks", api: clientPair, access: own, why: "lists, or removes by document, the client's own", calls: at("/compat/quicklysign/v1/webhooks?entity_key=" + v.doc)},
		{methods: "GET DELETE", path: "/compat/quicklysign/v1/webhooks/", api: clientPair, access: own, why: "lists, or removes by document, the client's own", calls: at("/compat/quicklysign/v1/webhooks/?entity_key=" + v.doc)},
		{methods: "GET DELETE", path: "/compat/quicklysign/v0/subscriptions/:key", api: clientPair, calls: at("/compat/quicklysign/v0/subscriptions/" + qsKey)},
		{methods: "GET DELETE", path: "/compat/quicklysign/v1/webhooks/:key", api: clientPair, calls: at("/compat/quicklysign/v1/webhooks/" + qsKey)},
		{methods: "GET", path: "/compat/quicklysign/v0/subscriptions/:key/callbacks", api: clientPair, calls: at("/compat/quicklysign/v0/subscriptions/" + qsKey + "/callbacks")},
		{methods: "GET", path: "/compat/quicklysign/v1/webhooks/:key/callbacks", api: clientPair, calls: at("/compat/quicklysign/v1/webhooks/" + qsKey + "/callbacks")},
		{methods: "PUT PATCH", path: "/compat/quicklysign/v0/subscriptions", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v0/subscriptions?entity_key=" + v.doc)},
		{methods: "PUT PATCH", path: "/compat/quicklysign/v0/subscriptions/", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v0/subscriptions/?entity_key=" + v.doc)},
		{methods: "PUT PATCH", path: "/compat/quicklysign/v1/webhooks", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v1/webhooks?entity_key=" + v.doc)},
		{methods: "PUT PATCH", path: "/compat/quicklysign/v1/webhooks/", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v1/webhooks/?entity_key=" + v.doc)},
		{methods: "POST PUT PATCH", path: "/compat/quicklysign/v0/subscriptions/:key", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v0/subscriptions/" + qsKey)},
		{methods: "POST PUT PATCH", path: "/compat/quicklysign/v1/webhooks/:key", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v1/webhooks/" + qsKey)},
		{methods: "POST PUT PATCH DELETE", path: "/compat/quicklysign/v0/subscriptions/:key/callbacks", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v0/subscriptions/" + qsKey + "/callbacks")},
		{methods: "POST PUT PATCH DELETE", path: "/compat/quicklysign/v1/webhooks/:key/callbacks", api: clientPair, access: stub, why: "405 in QuicklySign's envelope", calls: at("/compat/quicklysign/v1/webhooks/" + qsKey + "/callbacks")},

		// SalesKing.
		{methods: "GET", path: "/compat/salesking/api/subs/channels", access: shared, why: "the plugin's channels, the same for everyone", calls: at("/compat/salesking/api/subs/channels")},
		{methods: "GET", path: "/compat/salesking/api/subs/channels.json", access: shared, why: "the plugin's channels, the same for everyone", calls: at("/compat/salesking/api/subs/channels.json")},
		{methods: "GET", path: "/compat/salesking/api/subs", access: own, why: "lists the token's own", calls: at("/compat/salesking/api/subs")},
		{methods: "GET", path: "/compat/salesking/api/subs.json", access: own, why: "lists the token's own", calls: at("/compat/salesking/api/subs.json")},
		{methods: "POST", path: "/compat/salesking/api/subs", access: own, why: "subscribes the token's own app and company", calls: []call{{target: "/compat/salesking/api/subs", body: skBody}}},
		{methods: "POST", path: "/compat/salesking/api/subs.json", access: own, why: "subscribes the token's own app and company", calls: []call{{target: "/compat/salesking/api/subs.json", body: skBody}}},
		{methods: "GET DELETE", path: "/compat/salesking/api/subs/:id", calls: at("/compat/salesking/api/subs/"+skID, "/compat/salesking/api/subs/"+skID+".json")},
		{methods: "PUT PATCH", path: "/compat/salesking/api/subs/:id", calls: []call{{target: "/compat/salesking/api/subs/" + skID, body: skBody}, {target: "/compat/salesking/api/subs/" + skID + ".json", body: skBody}}},

		// iVvy.
		{methods: "POST", path: "/compat/ivvy/api/1.0/account", access: own, why: "manages the key's own app's endpoints in the key's own account", calls: []call{
			{target: "/compat/ivvy/api/1.0/account?action=subscribeToNotifications", body: map[string]string{"companiesEndpoint": attackerURL}},
			{target: "/compat/ivvy/api/1.0/account?action=unsubscribeFromNotifications", body: map[string]string{"companiesEndpoint": v.base + "/ivvy"}},
			{target: "/compat/ivvy/api/1.0/account?action=unsubscribeFromNotifications", body: map[string]string{"companiesEndpoint": v.base + "/ivvy"}, api: ptr(iws)},
		}},
		{methods: "GET", path: "/compat/ivvy/api-key", access: shared, why: "shows the caller its own key pair", calls: at("/compat/ivvy/api-key")},
		{methods: "GET POST", path: "/compat/ivvy/sns", access: capability, why: "the SNS token is the credential", calls: sns("/compat/ivvy/sns")},
		{methods: "GET POST", path: "/compat/ivvy/sns/", access: capability, why: "the SNS token is the credential", calls: sns("/compat/ivvy/sns/")},
	}
}

// portalCodes offers each of the victim's ids, and each dressed as a portal link's code, where a
// portal link's code belongs.
func portalCodes(ids []string) []call {
	out := []call{{target: "/v1/portal/exchange", body: map[string]string{"code": "psl_x.y"}}}
	for _, id := range ids {
		out = append(out, call{target: "/v1/portal/exchange", body: map[string]string{"code": id}},
			call{target: "/v1/portal/exchange", body: map[string]string{"code": "psl_" + id + "." + id}})
	}
	return out
}

// retryEach is a bulk retry of each subscription's dead and failed deliveries.
func retryEach(subs []string) []call {
	var out []call
	for _, id := range subs {
		out = append(out, call{target: "/v1/deliveries/retry", body: map[string]any{"subscription_id": id}})
	}
	return out
}

// routeKey is how a row names one route: "METHOD path".
func routeKeys(r row) []string {
	var keys []string
	for _, m := range strings.Fields(r.methods) {
		keys = append(keys, m+" "+r.path)
	}
	return keys
}

// checkCoverage fails for every route the node serves that no row names, and every row that names
// a route the node does not serve.
func checkCoverage(t *testing.T, node *nodetest.Node, rows []row) int {
	t.Helper()
	covered := map[string]bool{}
	for _, r := range rows {
		if r.access != tenant && r.why == "" {
			t.Errorf("%s %s: a route that is not the victim's to guard must say why", r.methods, r.path)
		}
		for _, k := range routeKeys(r) {
			if covered[k] {
				t.Errorf("%s is in the matrix twice", k)
			}
			covered[k] = true
		}
	}
	served := 0
	for _, r := range node.Server().Echo().Routes() {
		// Echo's own catch-alls for route groups, which answer 404 to every path they hold.
		if r.Method == "echo_route_not_found" {
			continue
		}
		served++
		k := r.Method + " " + r.Path
		if !covered[k] {
			t.Errorf("%s is served but not in the tenant matrix: add a row saying how other tenants must fare", k)
		}
		delete(covered, k)
	}
	for k := range covered {
		t.Errorf("the tenant matrix names %s, which the node does not serve", k)
	}
	return served
}

// TestTenantMatrix calls every route with every other tenant's credentials and the victim's ids,
// and checks each answer's status and that it holds nothing of the victim's; after each route,
// the victim reads all its data back, unchanged.
func TestTenantMatrix(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	v := newVictim(t, node)
	arc := nodetest.NewReceiver(t)
	attackerURL := arc.URL + "/attacker"
	creds := attackers(t, node, v, attackerURL)
	rows := matrix(v, attackerURL)
	routes := checkCoverage(t, node, rows)

	before := v.snapshot(t)
	for name, got := range before {
		if !strings.HasPrefix(got, "200 ") {
			t.Fatalf("the victim's own read %q: %s", name, got)
		}
	}
	calls, leaks := 0, 0
	for _, r := range rows {
		t.Run(r.methods+" "+r.path, func(t *testing.T) {
			for _, c := range r.calls {
				methods := strings.Fields(r.methods)
				if c.method != "" {
					methods = []string{c.method}
				}
				kind := r.access
				if c.access != nil {
					kind = *c.access
				}
				for _, m := range methods {
					for _, a := range creds {
						if why, skipped := r.skip[a.name]; skipped {
							t.Logf("%s %s: %s may by design: %s", m, c.target, a.name, why)
							continue
						}
						if why, skipped := c.skip[a.name]; skipped {
							t.Logf("%s %s: %s may by design: %s", m, c.target, a.name, why)
							continue
						}
						calls++
						api := r.api
						if c.api != nil {
							api = *c.api
						}
						resp := a.do(t, node, api, m, c.target, c.body)
						body, _ := json.Marshal(c.body)
						target, _ := url.QueryUnescape(c.target)
						sent := c.target + target + string(body)
						ok := resp.Status < 500
						if want, listed := allowedStatus[kind]; listed {
							_, extra := r.also[resp.Status]
							ok = slices.Contains(want, resp.Status) || extra
						}
						if !ok {
							t.Errorf("%s %s as %s: %d %s", m, c.target, a.name, resp.Status, resp.Body)
						}
						if found := v.leaks(resp, sent, a.knows); len(found) > 0 {
							leaks++
							t.Errorf("%s %s as %s shows the victim's %s: %d %s", m, c.target, a.name, strings.Join(found, ", "), resp.Status, resp.Body)
						}
					}
				}
			}
			after := v.snapshot(t)
			for name, was := range before {
				if after[name] != was {
					t.Errorf("the victim's %s changed:\nbefore %s\nafter  %s", name, was, after[name])
				}
			}
			// Blame each change on the row that made it, not on every row after it.
			before = after
		})
	}
	t.Logf("%d routes served, %d rows, %d attacker credentials, %d calls, %d answers that leaked", routes, len(rows), len(creds), calls, leaks)
}
