package host_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/examples/receivers"
	ivvy "github.com/switchyard/switchyard/plugins/ivvy/host"
)

const accountPath = "/compat/ivvy/api/1.0/account"

// setup is a node serving HTTPS, a tenant, and a primary API key of the tenant's account: what
// an iVvy integrator holds.
type setup struct {
	node    *nodetest.Node
	tn      *nodetest.Tenant
	primary *nodetest.Client
	credID  string
}

func start(t *testing.T) *setup {
	t.Helper()
	node := nodetest.Start(t, nodetest.Options{TLS: true})
	tn := node.NewTenant("ivvy", "")
	s := &setup{node: node, tn: tn}
	s.primary, s.credID = s.credential(t, true)
	return s
}

// credential issues another API key of the tenant's app and account.
func (s *setup) credential(t *testing.T, primary bool) (*nodetest.Client, string) {
	t.Helper()
	var cred engine.IssuedCredential
	s.node.Admin.MustDo("POST", "/v1/apps/"+s.tn.AppID+"/credentials",
		map[string]any{"kind": "api_key", "account_id": s.tn.AccountID, "primary": primary}, http.StatusCreated, &cred)
	return s.node.Client(cred.Token), cred.ID
}

func (s *setup) publish(t *testing.T, typ, id string, data string) engine.Published {
	t.Helper()
	var p engine.Published
	s.tn.App.MustDo("POST", "/v1/events", map[string]any{
		"account_id": s.tn.AccountID, "type": typ, "entity": map[string]string{"type": strings.Split(typ, ".")[0], "id": id},
		"data": json.RawMessage(data),
	}, http.StatusAccepted, &p)
	return p
}

type snsMessage struct {
	Type, MessageId, Token, TopicArn, Message, SubscribeURL, Timestamp string
	SignatureVersion, Signature, SigningCertURL, UnsubscribeURL        string
}

func decode(t *testing.T, r *nodetest.Request) snsMessage {
	t.Helper()
	var m snsMessage
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("not an SNS message: %v: %s", err, r.Body)
	}
	return m
}

// hostPattern lets sns-validator take certificates from the node on loopback, in place of AWS.
const hostPattern = `^127\.0\.0\.1:[0-9]+$`

// validate has AWS's sns-validator check each message exactly as it arrived, fetching the
// signing certificate from the node over HTTPS, and openssl agree with every signature.
func validate(t *testing.T, node *nodetest.Node, reqs []*nodetest.Request) {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i, r := range reqs {
		f := filepath.Join(dir, fmt.Sprintf("message-%d.json", i))
		if err := os.WriteFile(f, r.Body, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out, err := receivers.RunEnv(t, []string{"NODE_EXTRA_CA_CERTS=" + node.TLSCertFile}, "ivvy.js",
		append([]string{"verify", "--host-pattern", hostPattern}, files...)...)
	if err != nil {
		t.Fatalf("sns-validator refused a message: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(reqs) {
		t.Fatalf("sns-validator validated %d of %d messages: %s", len(lines), len(reqs), out)
	}
	for i, line := range lines {
		var v struct{ Type, MessageId string }
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.MessageId != decode(t, reqs[i]).MessageId {
			t.Errorf("validator said %s for message %d", line, i)
		}
	}

	// The plain check: the certificate's public key, and openssl dgst -verify.
	certFile, pubFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(certFile, node.ServerKey.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("openssl", "x509", "-pubkey", "-noout", "-in", certFile, "-out", pubFile).CombinedOutput(); err != nil {
		t.Fatalf("openssl x509: %v: %s", err, out)
	}
	for i, r := range reqs {
		m := decode(t, r)
		var signed string
		if m.Type == "SubscriptionConfirmation" {
			signed = "Message\n" + m.Message + "\nMessageId\n" + m.MessageId + "\nSubscribeURL\n" + m.SubscribeURL +
				"\nTimestamp\n" + m.Timestamp + "\nToken\n" + m.Token + "\nTopicArn\n" + m.TopicArn + "\nType\n" + m.Type + "\n"
		} else {
			signed = "Message\n" + m.Message + "\nMessageId\n" + m.MessageId + "\nTimestamp\n" + m.Timestamp +
				"\nTopicArn\n" + m.TopicArn + "\nType\n" + m.Type + "\n"
		}
		sig, err := base64.StdEncoding.DecodeString(m.Signature)
		if err != nil {
			t.Fatal(err)
		}
		msgFile, sigFile := filepath.Join(dir, fmt.Sprintf("signed-%d", i)), filepath.Join(dir, fmt.Sprintf("sig-%d", i))
		_ = os.WriteFile(msgFile, []byte(signed), 0o600)
		_ = os.WriteFile(sigFile, sig, 0o600)
		digest := map[string]string{"1": "-sha1", "2": "-sha256"}[m.SignatureVersion]
		if out, err := exec.Command("openssl", "dgst", digest, "-verify", pubFile, "-signature", sigFile, msgFile).CombinedOutput(); err != nil {
			t.Errorf("openssl does not verify message %d (%s, version %s): %s", i, m.Type, m.SignatureVersion, out)
		}
	}
}

// visit GETs a SubscribeURL or UnsubscribeURL as a receiver does, trusting the node's certificate.
func visit(t *testing.T, node *nodetest.Node, url string) (int, string) {
	t.Helper()
	resp, err := node.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var arnPattern = regexp.MustCompile(`^arn:aws:sns:ap-southeast-2:[0-9]{12}:iVvy_Account_[A-Za-z0-9_-]+_[0-9a-f]{40}_Notif[A-Z][a-z]+$`)

// TestReceiverConfirmsThenGetsSignedNotifications is the whole story: subscribe, receive the
// SubscriptionConfirmation, get nothing until confirming, visit SubscribeURL, then receive signed
// notifications for companies and contacts; AWS's validator accepts every message.
func TestReceiverConfirmsThenGetsSignedNotifications(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) { return http.StatusOK, nil, "" })

	var status map[string]any
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications",
		map[string]string{"companiesEndpoint": rc.URL + "/companies", "contactsEndpoint": rc.URL + "/contacts"}, http.StatusOK, &status)
	for _, prefix := range []string{"companies", "contacts"} {
		if status[prefix+"Success"] != true || !arnPattern.MatchString(fmt.Sprint(status[prefix+"TopicId"])) {
			t.Errorf("%s: %v %v", prefix, status[prefix+"Success"], status[prefix+"TopicId"])
		}
	}
	for _, prefix := range []string{"crm", "payments", "venues", "events"} {
		if v, ok := status[prefix+"Success"]; !ok || v != false || status[prefix+"TopicId"] != nil {
			t.Errorf("%s: %v %v", prefix, v, status[prefix+"TopicId"])
		}
	}
	if len(status) != 12 {
		t.Errorf("status map has %d keys, want 12: %v", len(status), status)
	}

	confirmations := rc.WaitFor(t, 2, 15*time.Second)
	byPath := map[string]snsMessage{}
	for _, r := range confirmations {
		m := decode(t, r)
		if m.Type != "SubscriptionConfirmation" || r.Header.Get("x-amz-sns-message-type") != "SubscriptionConfirmation" ||
			r.Header.Get("Content-Type") != "text/plain; charset=UTF-8" || !strings.HasPrefix(m.SubscribeURL, s.node.URL()+"/compat/ivvy/sns?Action=ConfirmSubscription&") {
			t.Errorf("confirmation %s: %+v %v", r.Path, m, r.Header)
		}
		if !strings.Contains(m.Message, "To confirm the subscription, visit the SubscribeURL included in this message.") {
			t.Errorf("message %q", m.Message)
		}
		byPath[r.Path] = m
	}
	if byPath["/companies"].TopicArn != status["companiesTopicId"] || byPath["/contacts"].TopicArn != status["contactsTopicId"] {
		t.Errorf("confirmation topics %s %s, status %v", byPath["/companies"].TopicArn, byPath["/contacts"].TopicArn, status)
	}

	// Before confirmation nothing is routed to the receiver: the events make no deliveries at all.
	for _, p := range []engine.Published{
		s.publish(t, "client.create", "1", `{"id":1,"businessName":"Early"}`),
		s.publish(t, "contact.create", "2", `{"id":2}`),
	} {
		if p.Deliveries != 0 {
			t.Fatalf("an event before confirmation made %d deliveries", p.Deliveries)
		}
	}
	// The receiver cannot unsubscribe what it has not confirmed.
	var res map[string]int
	s.primary.MustDo("POST", accountPath+"?action=unsubscribeFromNotifications", map[string]string{"companiesEndpoint": rc.URL + "/companies"}, http.StatusOK, &res)
	if res["companiesResult"] != ivvy.ResultNotConfirmed {
		t.Errorf("unsubscribing before confirmation: %v", res)
	}

	for path, m := range byPath {
		code, body := visit(t, s.node, m.SubscribeURL)
		var resp struct {
			SubscriptionArn string `xml:"ConfirmSubscriptionResult>SubscriptionArn"`
			RequestID       string `xml:"ResponseMetadata>RequestId"`
		}
		if err := xml.Unmarshal([]byte(body), &resp); err != nil || code != 200 || !strings.HasPrefix(resp.SubscriptionArn, m.TopicArn+":") || resp.RequestID == "" {
			t.Fatalf("confirming %s: %d %s (%v)", path, code, body, err)
		}
	}

	s.publish(t, "client.create", "60825", `{"id":60825,"businessName":"Test Company ✓"}`)
	s.publish(t, "contact.update", "7", `{"id":7,"firstName":"Ann"}`)
	s.publish(t, "client.delete", "60825", `null`)
	all := rc.WaitFor(t, 5, 15*time.Second)
	if len(all) != 5 {
		t.Fatalf("receiver got %d requests, want 5", len(all))
	}
	subjects := map[string]string{}
	for _, r := range all[2:] {
		m := decode(t, r)
		var inner struct{ Subject, Body, AccountId string }
		if err := json.Unmarshal([]byte(m.Message), &inner); err != nil {
			t.Fatal(err)
		}
		subjects[inner.Subject] = r.Path
		if m.Type != "Notification" || m.SignatureVersion != "2" || inner.AccountId != s.tn.AccountID ||
			!strings.HasPrefix(m.UnsubscribeURL, s.node.URL()+"/compat/ivvy/sns?Action=Unsubscribe&") ||
			!strings.HasPrefix(r.Header.Get("x-amz-sns-subscription-arn"), m.TopicArn+":") {
			t.Errorf("notification %s: %+v %v", r.Path, m, r.Header)
		}
		if inner.Subject == "CompanyDeleted" && inner.Body != `{"companyId":60825}` {
			t.Errorf("deleted body %s", inner.Body)
		}
	}
	if subjects["CompanyAdded"] != "/companies" || subjects["ContactUpdated"] != "/contacts" || subjects["CompanyDeleted"] != "/companies" {
		t.Errorf("subjects arrived at %v", subjects)
	}
	validate(t, s.node, all)

	// The UnsubscribeURL of a notification removes that subscription; the API then finds nothing.
	// Deliveries run concurrently, so the companies notification is found by its path, not by
	// the order of arrival.
	var unsubscribe string
	for _, r := range all[2:] {
		if r.Path == "/companies" {
			unsubscribe = decode(t, r).UnsubscribeURL
		}
	}
	code, body := visit(t, s.node, unsubscribe)
	if code != 200 || !strings.Contains(body, "<UnsubscribeResponse") {
		t.Fatalf("unsubscribe URL: %d %s", code, body)
	}
	s.primary.MustDo("POST", accountPath+"?action=unsubscribeFromNotifications", map[string]string{"companiesEndpoint": ""}, http.StatusOK, &res)
	if res["companiesResult"] != ivvy.ResultNotFound {
		t.Errorf("after the UnsubscribeURL: %v", res)
	}
	if p := s.publish(t, "client.create", "8", `{}`); p.Deliveries != 0 {
		t.Errorf("an unsubscribed endpoint still gets deliveries")
	}
}

// TestSignatureVersionOne: a subscription made through the native API with signature_version 1
// gets RSA-SHA1 signatures, which the validator and openssl accept too.
func TestSignatureVersionOne(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := nodetest.NewReceiver(t)
	var sub engine.Subscription
	s.primary.MustDo("POST", "/v1/subscriptions", map[string]any{
		"format": "ivvy", "events": []string{"contact.create", "contact.update", "contact.delete"}, "url": rc.URL + "/v1",
		"options": map[string]string{"endpoint": "contactsEndpoint", "signature_version": "1"},
	}, http.StatusCreated, &sub)
	if sub.State != engine.SubscriptionPending {
		t.Fatalf("state %s", sub.State)
	}
	confirmation := decode(t, rc.WaitFor(t, 1, 15*time.Second)[0])
	if code, _ := visit(t, s.node, confirmation.SubscribeURL); code != 200 {
		t.Fatalf("confirm: %d", code)
	}
	s.publish(t, "contact.delete", "9", `{"venueId":3}`)
	reqs := rc.WaitFor(t, 2, 15*time.Second)
	for _, r := range reqs {
		if m := decode(t, r); m.SignatureVersion != "1" {
			t.Errorf("%s has SignatureVersion %s", m.Type, m.SignatureVersion)
		}
	}
	validate(t, s.node, reqs)

	// The compatible API sees the same subscription as the contacts endpoint.
	var status map[string]any
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{}, http.StatusOK, &status)
	if status["contactsSuccess"] != true || status["companiesSuccess"] != false {
		t.Errorf("status %v", status)
	}
}

// confirmAll visits the SubscribeURL of every confirmation the receiver has got.
func confirmAll(t *testing.T, node *nodetest.Node, rc *nodetest.Receiver, n int) {
	t.Helper()
	for _, r := range rc.WaitFor(t, n, 15*time.Second) {
		if m := decode(t, r); m.Type == "SubscriptionConfirmation" {
			if code, body := visit(t, node, m.SubscribeURL); code != 200 {
				t.Fatalf("confirm: %d %s", code, body)
			}
		}
	}
}

// TestUnsubscribeResultCodes covers codes 1, 2, 4, 5 and 6 through the real node; code 3 has its
// own test below.
func TestUnsubscribeResultCodes(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := nodetest.NewReceiver(t)
	other, _ := s.credential(t, true)
	var status map[string]any
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications",
		map[string]string{"companiesEndpoint": rc.URL + "/a", "contactsEndpoint": rc.URL + "/b", "crmEndpoint": rc.URL + "/c"}, http.StatusOK, &status)
	confirmAll(t, s.node, rc, 3)
	other.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{"venuesEndpoint": rc.URL + "/d"}, http.StatusOK, &status)
	rc.WaitFor(t, 4, 15*time.Second) // venues stays unconfirmed

	var res map[string]int
	body := map[string]string{"companiesEndpoint": rc.URL + "/a", "paymentsEndpoint": rc.URL + "/p", "venuesEndpoint": rc.URL + "/d"}
	s.primary.MustDo("POST", accountPath+"?action=unsubscribeFromNotifications", body, http.StatusOK, &res)
	want := map[string]int{
		"companiesResult": ivvy.ResultSuccess,      // 1
		"contactsResult":  ivvy.ResultNotRequested, // 2
		"crmResult":       ivvy.ResultNotRequested,
		"paymentsResult":  ivvy.ResultNotFound,    // 4
		"venuesResult":    ivvy.ResultWrongSource, // 5: the other key subscribed it
		"eventsResult":    ivvy.ResultNotRequested,
	}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("results %v, want %v", res, want)
	}
	// The other key may not remove it either while it awaits confirmation: 6.
	other.MustDo("POST", accountPath+"?action=unsubscribeFromNotifications", map[string]string{"venuesEndpoint": ""}, http.StatusOK, &res)
	if res["venuesResult"] != ivvy.ResultNotConfirmed {
		t.Errorf("pending venues: %v", res)
	}
	// Unsubscribing again finds nothing: 4; contacts and crm are untouched.
	s.primary.MustDo("POST", accountPath+"?action=unsubscribeFromNotifications", map[string]string{"companiesEndpoint": ""}, http.StatusOK, &res)
	if res["companiesResult"] != ivvy.ResultNotFound {
		t.Errorf("second unsubscribe: %v", res)
	}
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{}, http.StatusOK, &status)
	if status["companiesSuccess"] != false || status["contactsSuccess"] != true || status["crmSuccess"] != true || status["venuesSuccess"] != true {
		t.Errorf("status after unsubscribing companies: %v", status)
	}
	// The raw answer lists every endpoint with an integer, in the manifest's order.
	raw := s.primary.Do("POST", accountPath+"?action=unsubscribeFromNotifications", map[string]string{"eventsEndpoint": ""})
	if strings.TrimSpace(string(raw.Body)) != `{"companiesResult":2,"contactsResult":2,"crmResult":2,"paymentsResult":2,"venuesResult":2,"eventsResult":4}` {
		t.Errorf("raw answer %s", raw.Body)
	}
}

// failingDeletes is the engine, except that removing a subscription fails.
type failingDeletes struct{ ivvy.Subscriptions }

func (failingDeletes) Delete(context.Context, *engine.Principal, string) error {
	return errors.New("disk on fire")
}

// TestUnknownErrorIsCodeThree: a failure while removing a subscription is code 3 for that
// endpoint, and the subscription stays.
func TestUnknownErrorIsCodeThree(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := nodetest.NewReceiver(t)
	var status map[string]any
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL}, http.StatusOK, &status)
	confirmAll(t, s.node, rc, 1)

	// The same handlers over the same engine, with deletes that fail.
	style, err := ivvy.New(s.node.StyleDeps())
	if err != nil {
		t.Fatal(err)
	}
	real := ivvy.EngineSubscriptions(s.node.Engine())
	style.SetSubscriptions(failingDeletes{real})
	e := echo.New()
	e.HTTPErrorHandler = web.ErrorHandler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	style.Routes(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	broken := s.node.Client(s.primary.Token)
	broken.Base, broken.HTTP = srv.URL, srv.Client()

	var res map[string]int
	broken.MustDo("POST", accountPath+"?action=unsubscribeFromNotifications", map[string]string{"companiesEndpoint": rc.URL}, http.StatusOK, &res)
	if res["companiesResult"] != ivvy.ResultUnknownError || res["contactsResult"] != ivvy.ResultNotRequested {
		t.Errorf("results %v", res)
	}
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{}, http.StatusOK, &status)
	if status["companiesSuccess"] != true {
		t.Error("the subscription is gone though removing it failed")
	}
}

func TestOnlyPrimaryKeysMayManageNotifications(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := nodetest.NewReceiver(t)
	plain, _ := s.credential(t, false)
	for _, action := range []string{"subscribeToNotifications", "unsubscribeFromNotifications"} {
		resp := plain.Do("POST", accountPath+"?action="+action, map[string]string{"companiesEndpoint": rc.URL})
		var body ivvy.ErrorBody
		resp.JSON(t, &body)
		if resp.Status != http.StatusForbidden || body.ErrorCode != 403 || !strings.HasPrefix(body.Message, "Not Allowed") {
			t.Errorf("%s with a non-primary key: %d %s", action, resp.Status, resp.Body)
		}
	}
	// A key of no account cannot be an iVvy account's key either.
	var cred engine.IssuedCredential
	s.node.Admin.MustDo("POST", "/v1/apps/"+s.tn.AppID+"/credentials", map[string]any{"kind": "api_key", "primary": true}, http.StatusCreated, &cred)
	if resp := s.node.Client(cred.Token).Do("POST", accountPath+"?action=subscribeToNotifications", map[string]string{}); resp.Status != http.StatusForbidden {
		t.Errorf("a primary key of no account: %d %s", resp.Status, resp.Body)
	}
	if resp := s.node.Client("crd_nope.secret").Do("POST", accountPath+"?action=subscribeToNotifications", map[string]string{}); resp.Status != http.StatusUnauthorized {
		t.Errorf("a wrong key: %d %s", resp.Status, resp.Body)
	}
	var subs struct{ Data []engine.Subscription }
	s.tn.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, &subs)
	if len(subs.Data) != 0 || len(rc.Requests()) != 0 {
		t.Errorf("refused calls left %d subscriptions, %d requests", len(subs.Data), len(rc.Requests()))
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := nodetest.NewReceiver(t)
	cases := []struct {
		name, query string
		body        any
		status      int
		message     string
	}{
		{"unknown endpoint", "subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL, "widgetsEndpoint": rc.URL}, 400, "'widgetsEndpoint' does not validate"},
		{"not a URL", "subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL, "contactsEndpoint": "ftp://x"}, 400, "'contactsEndpoint' does not validate"},
		{"a private address", "subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL, "contactsEndpoint": "http://10.1.2.3/hook"}, 400, "'contactsEndpoint' does not validate"},
		{"not a string", "subscribeToNotifications", map[string]any{"companiesEndpoint": 5}, 400, "'companiesEndpoint' does not validate"},
		{"malformed JSON", "subscribeToNotifications", `{"companiesEndpoint":`, 400, "malformed JSON"},
		{"no action", "", map[string]string{}, 400, "'action' is required"},
		{"another action", "getCompanyList", map[string]string{}, 501, "is not part of"},
	}
	for _, c := range cases {
		path := accountPath
		if c.query != "" {
			path += "?action=" + c.query
		}
		resp := s.primary.Do("POST", path, c.body)
		var body ivvy.ErrorBody
		resp.JSON(t, &body)
		if resp.Status != c.status || body.ErrorCode != c.status || !strings.Contains(body.Message, c.message) {
			t.Errorf("%s: %d %s", c.name, resp.Status, resp.Body)
		}
	}
	var subs struct{ Data []engine.Subscription }
	s.tn.App.MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, &subs)
	if len(subs.Data) != 0 {
		t.Errorf("refused calls created %d subscriptions", len(subs.Data))
	}
	// SNS endpoints answer in SNS's XML, also when wrong.
	code, body := visit(t, s.node, s.node.URL()+"/compat/ivvy/sns?Action=ConfirmSubscription&Token=nope")
	if code != 404 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "<Code>NotFound</Code>") {
		t.Errorf("unknown token: %d %s", code, body)
	}
}

func TestResubscribing(t *testing.T) {
	t.Parallel()
	s := start(t)
	rc := nodetest.NewReceiver(t)
	var status map[string]any
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL + "/one"}, http.StatusOK, &status)
	confirmAll(t, s.node, rc, 1)
	topic := status["companiesTopicId"]
	// The same URL again changes nothing and sends nothing.
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL + "/one"}, http.StatusOK, &status)
	if p := s.publish(t, "client.create", "1", `{}`); p.Deliveries != 1 {
		t.Fatalf("after subscribing twice an event made %d deliveries", p.Deliveries)
	}
	// Another key may not move it.
	other, _ := s.credential(t, true)
	if resp := other.Do("POST", accountPath+"?action=subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL + "/two"}); resp.Status != http.StatusConflict {
		t.Errorf("another key moved the endpoint: %d %s", resp.Status, resp.Body)
	}
	// A new URL from the same key replaces it, to be confirmed again.
	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{"companiesEndpoint": rc.URL + "/two"}, http.StatusOK, &status)
	if status["companiesTopicId"] != topic {
		t.Errorf("the topic changed: %v, was %v", status["companiesTopicId"], topic)
	}
	reqs := rc.WaitFor(t, 3, 15*time.Second)
	if last := reqs[len(reqs)-1]; last.Path != "/two" || decode(t, last).Type != "SubscriptionConfirmation" {
		t.Errorf("last request %s %s", last.Path, last.Body)
	}
	if p := s.publish(t, "client.create", "2", `{}`); p.Deliveries != 0 {
		t.Errorf("the new URL got a delivery before confirming")
	}
}

// TestAnSNSReceiverWorksUnchanged runs a receiver written the SNS way (examples/receivers/ivvy.js:
// sns-validator, then a visit to SubscribeURL) as the subscriber, and lets it confirm by itself.
func TestAnSNSReceiverWorksUnchanged(t *testing.T) {
	t.Parallel()
	s := start(t)
	cmd := receivers.Command(t, "ivvy.js", "serve", "--host-pattern", hostPattern, "--port", "0", "--confirm")
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+s.node.TLSCertFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "receiver on "); ok {
				addr <- url
			}
		}
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	select {
	case url = <-addr:
	case <-time.After(15 * time.Second):
		t.Fatal("the receiver did not start")
	}
	next := func() map[string]any {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the receiver exited")
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return m
		case <-time.After(20 * time.Second):
			t.Fatal("the receiver printed nothing")
		}
		return nil
	}

	s.primary.MustDo("POST", accountPath+"?action=subscribeToNotifications", map[string]string{"companiesEndpoint": url + "/sns"}, http.StatusOK, nil)
	conf := next()
	confirmation, _ := conf["confirmation"].(map[string]any)
	if conf["valid"] != true || conf["type"] != "SubscriptionConfirmation" || confirmation["status"] != float64(200) ||
		!strings.Contains(fmt.Sprint(confirmation["body"]), "<ConfirmSubscriptionResponse") {
		t.Fatalf("confirmation: %v", conf)
	}
	// The receiver's visit activated the subscription.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p := s.publish(t, "client.create", "42", `{"id":42}`); p.Deliveries == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription was not activated by the receiver's visit")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := next()
	if n["valid"] != true || n["type"] != "Notification" || n["headerType"] != "Notification" || !strings.Contains(fmt.Sprint(n["message"]), `"Subject":"CompanyAdded"`) {
		t.Errorf("notification: %v", n)
	}
}
