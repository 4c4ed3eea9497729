package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	ivvy "github.com/switchyard/switchyard/plugins/ivvy/host"
)

// TestSecretsNeverLeak runs every built-in style on one node at debug log level, each set up
// through its vendor-compatible API the way an integrator would, with an event delivered to a
// receiver on loopback for each. Then it searches the node's log, every read of the native and
// compatible APIs and a few error answers for each secret the run handed out: secrets are shown
// once, at creation, and nowhere after; the capability tokens of the URLs the node hands receivers
// go to the receiver and nowhere else either. After shutdown it searches the database file:
// credential secrets and capability tokens are kept only as hashes, while the secrets the node
// signs with are kept as they are.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	s := &leakSearch{t: t, node: node, secrets: map[string]string{}, credentials: map[string]bool{}, capabilities: map[string]string{}}
	s.credential("admin token", nodetest.AdminToken, false)
	for _, style := range []func(*testing.T, *leakSearch){
		standardSecrets, altovizSecrets, quicklySignSecrets, salesKingSecrets, upsalesSecrets, ivvySecrets,
	} {
		style(t, s)
	}
	s.keyFiles(t)
	for name, v := range s.all() {
		if len(v) < 8 {
			t.Fatalf("%s %q is too short to search for", name, v)
		}
	}

	logs := s.node.Logs.String()
	// The search proves little unless the log is at debug level and holds every API's requests.
	for _, want := range []string{"level=DEBUG", "path=/compat/altoviz/v1/webhooks", "path=/compat/quicklysign/v0/subscriptions",
		"path=/compat/salesking/api/subs", "path=/compat/ivvy/api/1.0/account", "path=/hooks/upsales/callbacks/", "path=/compat/ivvy/sns"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %q; the search would prove little", want)
		}
	}
	for name, v := range s.all() {
		if strings.Contains(logs, v) {
			t.Errorf("the %s is in the log", name)
		}
	}
	for name, v := range s.all() {
		for _, r := range s.reads {
			if strings.Contains(string(r.Body), v) || strings.Contains(fmt.Sprint(r.Header), v) {
				t.Errorf("the %s is in a response (%d): %s", name, r.Status, r.Body)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	db := s.database(t)
	// The node signs with the app's secret, so it keeps it: finding it shows that the search reads
	// what is stored as it is stored.
	if !bytes.Contains(db, []byte(s.secrets["standard app secret"])) {
		t.Fatal("the database does not hold the app secret it signs with; the search would prove little")
	}
	for name, hashed := range s.credentials {
		v := s.secrets[name]
		if bytes.Contains(db, []byte(v)) {
			t.Errorf("the %s is stored in the database as it is", name)
		}
		if sum := sha256.Sum256([]byte(v)); hashed && !bytes.Contains(db, sum[:]) {
			t.Errorf("the %s is not stored as its hash", name)
		}
	}
	// Capability tokens are stored as the hex of their SHA-256, and recorded attempts show
	// engine.RedactedToken where the request carried one.
	for name, v := range s.capabilities {
		if bytes.Contains(db, []byte(v)) {
			t.Errorf("the %s is stored in the database as it is", name)
		}
		if !bytes.Contains(db, []byte(engine.HashToken(v))) {
			t.Errorf("the %s is not stored as its hash", name)
		}
	}
	hashed := 0
	for _, h := range s.credentials {
		if h {
			hashed++
		}
	}
	t.Logf("searched the %d secrets and %d capability tokens in %d bytes of log and in %d API answers (%d bytes of body, and their headers); "+
		"the %d credential secrets among them and the %d tokens in %d bytes of database and WAL (%d and %d to be found there as SHA-256)",
		len(s.secrets), len(s.capabilities), len(logs), len(s.reads), s.readBytes(), len(s.credentials), len(s.capabilities), len(db), hashed, len(s.capabilities))
}

// leakSearch is what one run handed out, and what it read back afterwards.
type leakSearch struct {
	t    *testing.T
	node *nodetest.Node
	// secrets are shown once, when made: after that, in no log line, API answer or error.
	secrets map[string]string
	// credentials names the secrets the node only checks what callers present against, so it
	// must not keep them as they are; true when it keeps their SHA-256 instead.
	credentials map[string]bool
	// capabilities are the tokens of the one-time URLs the node hands receivers (Upsales'
	// callbackUrl, iVvy's SubscribeURL): whoever reads one could call back or confirm in the app's
	// name, so only the receiver gets it; the log, API answers (attempts included) and the
	// database must not hold it.
	capabilities map[string]string
	reads        []*nodetest.Response
}

func (s *leakSearch) secret(name, v string) {
	if _, taken := s.secrets[name]; taken {
		s.t.Fatalf("two secrets are named %q: one would not be searched for", name)
	}
	s.secrets[name] = v
}

// credential records a credential secret; hashed says whether the store keeps its SHA-256 (one the
// node derives or is configured with, it keeps not at all).
func (s *leakSearch) credential(name, v string, hashed bool) {
	s.secret(name, v)
	s.credentials[name] = hashed
}

func (s *leakSearch) all() map[string]string {
	all := map[string]string{}
	for k, v := range s.secrets {
		all[k] = v
	}
	for k, v := range s.capabilities {
		all[k] = v
	}
	return all
}

func (s *leakSearch) read(rs ...*nodetest.Response) { s.reads = append(s.reads, rs...) }

func (s *leakSearch) readBytes() int {
	n := 0
	for _, r := range s.reads {
		n += len(r.Body)
	}
	return n
}

// tenant is an integrator: an account, an app whose secret the node signs with, and an API key.
func (s *leakSearch) tenant(name, appURL string) *nodetest.Tenant {
	tn := s.node.NewTenant(name, appURL)
	s.secret(name+" app secret", tn.AppSecret)
	_, key, _ := strings.Cut(tn.Token, ".")
	s.credential(name+" publishing key secret", key, true)
	return tn
}

// issue gives the tenant's app another credential, as the operator does for a vendor style.
func (s *leakSearch) issue(t *testing.T, tn *nodetest.Tenant, name string, body map[string]any) engine.IssuedCredential {
	t.Helper()
	var c engine.IssuedCredential
	s.node.Admin.MustDo("POST", "/v1/apps/"+tn.AppID+"/credentials", body, http.StatusCreated, &c)
	secret := c.ClientSecret
	if secret == "" {
		_, secret, _ = strings.Cut(c.Token, ".")
	}
	s.credential(name, secret, true)
	return c
}

// nativeReads reads, as the operator and as the tenant's app, what the native API shows of the
// tenant: its account and app, every subscription, and every delivery with its attempt log.
func (s *leakSearch) nativeReads(t *testing.T, tn *nodetest.Tenant, eventID string) {
	t.Helper()
	paths := []string{"/v1/accounts", "/v1/accounts/" + tn.AccountID, "/v1/apps", "/v1/apps/" + tn.AppID,
		"/v1/subscriptions", "/v1/deliveries", "/v1/events/" + eventID, "/v1/plugins"}
	var subs listOf[subscription]
	tn.App.MustDo("GET", "/v1/subscriptions?limit=200", nil, http.StatusOK, &subs)
	var ds listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?limit=200", nil, http.StatusOK, &ds)
	if len(subs.Data) == 0 || len(ds.Data) == 0 {
		t.Fatalf("the app sees %d subscriptions and %d deliveries; the reads would prove little", len(subs.Data), len(ds.Data))
	}
	for _, sub := range subs.Data {
		paths = append(paths, "/v1/subscriptions/"+sub.ID)
	}
	for _, d := range ds.Data {
		paths = append(paths, "/v1/deliveries/"+d.ID)
	}
	for _, p := range paths {
		s.read(s.node.Admin.Do("GET", p, nil), tn.App.Do("GET", p, nil))
	}
}

// keyFiles records the key material the node keeps in its data dir: the server key, which signs
// iVvy's SNS messages, the key iVvy API secrets are derived with, and the keys capability tokens
// are derived with.
func (s *leakSearch) keyFiles(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.node.DataDir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || !strings.Contains(block.Type, "PRIVATE KEY") {
		t.Fatalf("server-key.pem holds no private key")
	}
	// Each line of the PEM file: a part of the key in any base64 form it could be written in.
	enc := base64.StdEncoding.EncodeToString(block.Bytes)
	for i := 0; i+64 <= len(enc); i += 64 {
		s.secret(fmt.Sprintf("server key (line %d)", i/64+1), enc[i:i+64])
	}
	master, err := os.ReadFile(filepath.Join(s.node.DataDir, "ivvy-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	s.secret("iVvy key-derivation key", strings.TrimSpace(string(master)))
	for _, name := range []string{"confirm-token-key", "upsales-callback-key"} {
		key, err := os.ReadFile(filepath.Join(s.node.DataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		s.secret(name+" (capability tokens)", strings.TrimSpace(string(key)))
	}
}

// database returns the bytes of the node's SQLite files, its write-ahead log included.
func (s *leakSearch) database(t *testing.T) []byte {
	t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(s.node.DataDir, "switchyard.db"+suffix))
		if suffix != "" && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// A separator no secret holds, so no match spans two files.
		all = append(append(all, b...), 0)
	}
	return all
}

// okReceiver answers every request 200: the one answer every style counts as received.
func okReceiver(t *testing.T) *nodetest.Receiver {
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) { return http.StatusOK, nil, "" })
	return rc
}

func hmacHex(h func() hash.Hash, key string, msg []byte) string {
	mac := hmac.New(h, []byte(key))
	mac.Write(msg)
	return hex.EncodeToString(mac.Sum(nil))
}

// standardSecrets: the native API and the Standard Webhooks style, with a rotated secret.
func standardSecrets(t *testing.T, s *leakSearch) {
	t.Helper()
	rc := nodetest.NewReceiver(t)
	tn := s.tenant("standard", "https://app.example/")
	s.issue(t, tn, "client secret", map[string]any{"kind": "client"})
	sub := subscribe(t, tn, rc.URL, nil)
	var rotated subscription
	tn.App.MustDo("POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", nil, http.StatusOK, &rotated)
	s.secret("signing secret", sub.Secret)
	s.secret("rotated signing secret", rotated.Secret)
	ev := publish(t, tn, nil)
	deliveryOf(t, tn, ev.ID, "succeeded")
	s.nativeReads(t, tn, ev.ID)
	same := tn.App.Do("POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", map[string]any{"secret": rotated.Secret})
	if same.Status != http.StatusUnprocessableEntity {
		t.Errorf("rotating to the current secret: %d %s, want 422", same.Status, same.Body)
	}
	s.read(
		same,
		tn.App.Do("POST", "/v1/subscriptions", map[string]any{"url": "http://10.0.0.1/", "secret": "leaky-" + sub.Secret}),
		s.node.Client(tn.Token+"x").Do("GET", "/v1/subscriptions", nil),
		s.node.Client(nodetest.AdminToken+"x").Do("GET", "/v1/accounts", nil),
		tn.App.Do("PATCH", "/v1/subscriptions/"+sub.ID, map[string]any{"secret": sub.Secret}),
	)
}

// altovizSecrets: an API key bound to the company, and the secretKey a webhook is registered with.
func altovizSecrets(t *testing.T, s *leakSearch) {
	t.Helper()
	rc := okReceiver(t)
	tn := s.tenant("altoviz", "")
	key := s.issue(t, tn, "altoviz api key secret", map[string]any{"kind": "api_key", "account_id": tn.AccountID})
	api := s.node.Client(key.Token)
	api.Header = "x-api-key"
	secretKey := "altoviz-" + rand.Text()
	s.secret("altoviz secretKey", secretKey)
	const path = "/compat/altoviz/v1/webhooks"
	var hook struct{ ID int64 }
	api.MustDo("POST", path, map[string]any{"name": "crm", "types": []string{"CustomerCreated"}, "url": rc.URL + "/altoviz", "secretKey": secretKey}, http.StatusCreated, &hook)
	ev := publish(t, tn, nil)
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	if sig := got.Header.Get("X-Signature"); sig != hmacHex(sha256.New, secretKey, got.Body) {
		t.Errorf("altoviz: X-SIGNATURE %q is not the body's HMAC with the secretKey", sig)
	}
	deliveryOf(t, tn, ev.ID, "succeeded")
	wrongKey := s.node.Client(key.Token + "x")
	wrongKey.Header = "x-api-key"
	s.read(
		api.Do("GET", path, nil),
		api.Do("GET", "/compat/altoviz/v1/Webhooks/", nil),
		api.Do("POST", path, map[string]any{"types": []string{"CustomerCreated"}, "url": rc.URL + "/altoviz", "secretKey": "leaky-" + secretKey}),
		api.Do("POST", path, map[string]any{"types": []string{"Nothing"}, "url": rc.URL + "/other", "secretKey": strings.Repeat(secretKey, 10)}),
		wrongKey.Do("GET", path, nil),
	)
	s.nativeReads(t, tn, ev.ID)
	s.read(api.Do("DELETE", fmt.Sprintf("%s?id=%d", path, hook.ID), nil))
}

// quicklySignSecrets: the client_id and client_secret pair, sent in bodies and query strings.
func quicklySignSecrets(t *testing.T, s *leakSearch) {
	t.Helper()
	rc := okReceiver(t)
	tn := s.tenant("quicklysign", "")
	cl := s.issue(t, tn, "quicklysign client secret", map[string]any{"kind": "client", "account_id": tn.AccountID})
	api := s.node.Client("")
	const doc = "ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgMDvCww"
	var created struct {
		Data struct{ Subscription struct{ Key string } }
	}
	api.MustDo("POST", "/compat/quicklysign/v0/subscriptions", map[string]any{"client_id": cl.ClientID, "client_secret": cl.ClientSecret,
		"subscription": map[string]string{"entity_key": doc, "callback": rc.URL + "/quicklysign"}}, http.StatusOK, &created)
	key := created.Data.Subscription.Key
	ev := publish(t, tn, map[string]any{"type": "document.update", "entity": map[string]string{"type": "document", "id": doc}})
	rc.WaitFor(t, 1, 15*time.Second)
	deliveryOf(t, tn, ev.ID, "succeeded")
	creds := "client_id=" + url.QueryEscape(cl.ClientID) + "&client_secret=" + url.QueryEscape(cl.ClientSecret)
	wrong := "client_id=" + url.QueryEscape(cl.ClientID) + "&client_secret=" + url.QueryEscape(cl.ClientSecret+"x")
	s.read(
		api.Do("GET", "/compat/quicklysign/v0/subscriptions?"+creds, nil),
		api.Do("GET", "/compat/quicklysign/v0/subscriptions?entity_key="+doc+"&"+creds, nil),
		api.Do("GET", "/compat/quicklysign/v0/subscriptions/"+key+"?"+creds, nil),
		api.Do("GET", "/compat/quicklysign/v0/subscriptions/"+key+"/callbacks?"+creds, nil),
		api.Do("GET", "/compat/quicklysign/v1/webhooks?"+creds, nil),
		api.Do("GET", "/compat/quicklysign/v0/subscriptions?"+wrong, nil),
		api.Do("POST", "/compat/quicklysign/v0/subscriptions", map[string]any{"client_id": cl.ClientID, "client_secret": cl.ClientSecret}),
		api.Do("POST", "/compat/quicklysign/v1/webhooks", map[string]any{"client_id": cl.ClientID, "client_secret": cl.ClientSecret + "x",
			"webhook": map[string]string{"entity_key": doc, "callback": rc.URL}}),
	)
	s.nativeReads(t, tn, ev.ID)
}

// salesKingSecrets: the access token a company grants the app, and the app secret that signs each
// signed_request.
func salesKingSecrets(t *testing.T, s *leakSearch) {
	t.Helper()
	rc := okReceiver(t)
	appURL := rc.URL + "/salesking/"
	tn := s.tenant("salesking", appURL)
	token := s.issue(t, tn, "salesking access token secret", map[string]any{"kind": "access_token", "account_id": tn.AccountID, "scopes": []string{"clients"}})
	api := s.node.Client(token.Token)
	const path = "/compat/salesking/api/subs"
	var created struct{ Sub struct{ ID string } }
	api.MustDo("POST", path, map[string]any{"sub": map[string]string{"channel": "client.create", "callback_url": appURL + "clients"}}, http.StatusCreated, &created)
	ev := publish(t, tn, nil)
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	form, _ := url.ParseQuery(string(got.Body))
	if sig, payload, _ := strings.Cut(form.Get("signed_request"), "."); sig != hmacHex(sha256.New, tn.AppSecret, []byte(payload)) {
		t.Errorf("salesking: signed_request %q is not signed with the app secret", form.Get("signed_request"))
	}
	deliveryOf(t, tn, ev.ID, "succeeded")
	// An integrator who forgets "Bearer " sends the token as the whole header.
	schemeless := s.node.Client(token.Token)
	schemeless.Header = "Authorization"
	s.read(
		api.Do("GET", path, nil),
		api.Do("GET", path+".json", nil),
		api.Do("GET", path+"/"+created.Sub.ID, nil),
		api.Do("GET", path+"/"+created.Sub.ID+".json", nil),
		api.Do("POST", path, map[string]any{"sub": map[string]string{"channel": "invoice.create", "callback_url": appURL + "invoices"}}),
		api.Do("POST", path, map[string]any{"sub": map[string]string{"channel": "client.update", "callback_url": "https://elsewhere.example/"}}),
		schemeless.Do("GET", path, nil),
		s.node.Client("").Do("GET", path+"?access_token="+url.QueryEscape(token.Token+"x"), nil),
	)
	s.nativeReads(t, tn, ev.ID)
}

// upsalesSecrets: the app's authenticationKey, which every request carries, and the callbackUrl the
// app calls back through.
func upsalesSecrets(t *testing.T, s *leakSearch) {
	t.Helper()
	rc := okReceiver(t)
	tn := s.tenant("upsales", rc.URL)
	subscribe(t, tn, rc.URL+"/upsales", map[string]any{"format": "upsales", "events": []string{"client.create"}})
	ev := publish(t, tn, map[string]any{"user": map[string]string{"id": "7", "name": "Ann"}})
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	var req struct {
		AuthenticationKey string `json:"authenticationKey"`
		CallbackURL       string `json:"callbackUrl"`
	}
	if err := json.Unmarshal(got.Body, &req); err != nil || req.AuthenticationKey != tn.AppSecret {
		t.Fatalf("upsales: the app was not sent its authenticationKey (%v): %s", err, got.Body)
	}
	d := deliveryOf(t, tn, ev.ID, "succeeded")
	if !strings.Contains(d.AttemptLog[0].RequestBody, `"authenticationKey":"[secret:app]"`) {
		t.Errorf("upsales: the attempt does not record the key as [secret:app]: %s", d.AttemptLog[0].RequestBody)
	}
	callbackPath, ok := strings.CutPrefix(req.CallbackURL, s.node.URL())
	token, _ := url.PathUnescape(callbackPath[strings.LastIndex(callbackPath, "/")+1:])
	if !ok || len(token) < 32 {
		t.Fatalf("upsales: callbackUrl %q", req.CallbackURL)
	}
	s.capabilities["upsales callback token"] = token
	callback := map[string]any{"status": 2, "message": "synced", "notify": "Acme is synced", "notifyUserIds": []any{7}}
	s.node.Client("").MustDo("POST", callbackPath, callback, http.StatusOK, nil)
	var logs, notes listOf[struct{ ID string }]
	tn.App.MustDo("GET", "/v1/logs", nil, http.StatusOK, &logs)
	tn.App.MustDo("GET", "/v1/notifications", nil, http.StatusOK, &notes)
	if len(logs.Data) != 1 || len(notes.Data) != 1 {
		t.Fatalf("upsales: %d log entries and %d notifications, want 1 and 1", len(logs.Data), len(notes.Data))
	}
	s.read(
		tn.App.Do("GET", "/v1/logs", nil), s.node.Admin.Do("GET", "/v1/logs", nil),
		tn.App.Do("GET", "/v1/logs/"+logs.Data[0].ID, nil),
		tn.App.Do("GET", "/v1/notifications", nil), s.node.Admin.Do("GET", "/v1/notifications", nil),
		// The modal asks the app for a widget, sending it the key: the answer must not carry it.
		tn.App.Do("POST", "/v1/notifications/"+notes.Data[0].ID+"/open", nil),
		s.node.Client("").Do("POST", callbackPath, callback),
		s.node.Client("").Do("POST", callbackPath+"x", callback),
	)
	s.nativeReads(t, tn, ev.ID)
}

// ivvySecrets: a primary API key, the IWS key pair derived from it that signs iVvy API calls, and
// the SNS subscription's confirmation token; the server key signs what the receiver gets.
func ivvySecrets(t *testing.T, s *leakSearch) {
	t.Helper()
	rc := okReceiver(t)
	tn := s.tenant("ivvy", "")
	key := s.issue(t, tn, "ivvy api key secret", map[string]any{"kind": "api_key", "account_id": tn.AccountID, "primary": true})
	var pair struct{ APIKey, APISecret string }
	s.node.Client(key.Token).MustDo("GET", "/compat/ivvy/api-key", nil, http.StatusOK, &pair)
	s.credential("ivvy IWS api secret", pair.APISecret, false)
	endpoints := map[string]string{"companiesEndpoint": rc.URL + "/ivvy/companies"}
	if r := iwsCall(t, s.node, pair.APIKey, pair.APISecret, "subscribeToNotifications", endpoints); r.Status != http.StatusOK {
		t.Fatalf("ivvy: subscribe: %d %s", r.Status, r.Body)
	}
	var confirmation struct{ Type, Token, SubscribeURL string }
	if err := json.Unmarshal(rc.WaitFor(t, 1, 15*time.Second)[0].Body, &confirmation); err != nil || confirmation.Type != "SubscriptionConfirmation" {
		t.Fatalf("ivvy: not a SubscriptionConfirmation (%v): %+v", err, confirmation)
	}
	s.capabilities["ivvy confirmation token"] = confirmation.Token
	resp, err := s.node.HTTPClient().Get(confirmation.SubscribeURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.read(&nodetest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body})
	ev := publish(t, tn, nil)
	deliveryOf(t, tn, ev.ID, "succeeded")
	s.read(
		iwsCall(t, s.node, pair.APIKey, pair.APISecret+"0", "subscribeToNotifications", endpoints),
		iwsCall(t, s.node, pair.APIKey, pair.APISecret, "subscribeToNotifications", map[string]string{"nothingEndpoint": pair.APISecret}),
		s.node.Client(key.Token+"x").Do("GET", "/compat/ivvy/api-key", nil),
	)
	s.nativeReads(t, tn, ev.ID)
	s.read(iwsCall(t, s.node, pair.APIKey, pair.APISecret, "unsubscribeFromNotifications", endpoints))
}

// iwsCall calls iVvy's account API as iVvy's client libraries do: signed with the IWS key pair.
func iwsCall(t *testing.T, node *nodetest.Node, key, secret, action string, body any) *nodetest.Response {
	t.Helper()
	return iwsRequest(t, node, "POST", "/compat/ivvy/api/1.0/account?action="+action, key, secret, body)
}

// iwsRequest sends body as JSON to target (a path under the node), signed with an IWS key pair.
func iwsRequest(t *testing.T, node *nodetest.Node, method, target, key, secret string, body any) *nodetest.Response {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(raw)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Content-MD5", hex.EncodeToString(sum[:]))
	h.Set("X-Api-Version", "1.0")
	h.Set("IVVY-Date", time.Now().UTC().Format("2006-01-02 15:04:05"))
	toSign := ivvy.StringToSign(method, h.Get("Content-MD5"), h.Get("Content-Type"), "", target, h.Get("X-Api-Version"), h)
	h.Set("X-Api-Authorization", "IWS "+key+":"+hmacHex(sha1.New, secret, []byte(toSign)))
	req, err := http.NewRequest(method, node.URL()+target, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := node.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &nodetest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
