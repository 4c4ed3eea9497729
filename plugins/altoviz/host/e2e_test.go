package host_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// The vendor's table, in the document's order, by canonical object.
var objects = []struct{ canonical, vendor string }{
	{"contact", "Contact"}, {"client", "Customer"}, {"invoice", "Invoice"}, {"quote", "Quote"}, {"product", "Product"},
}

var actions = []struct{ canonical, vendor string }{
	{"create", "Created"}, {"update", "Updated"}, {"delete", "Deleted"},
}

func allTypes() []string {
	var out []string
	for _, o := range objects {
		for _, a := range actions {
			out = append(out, o.vendor+a.vendor)
		}
	}
	return out
}

type delivery struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscription_id"`
	State          string `json:"state"`
	Attempts       int    `json:"attempts"`
}

// deliveryFor returns the delivery of an event to one subscription.
func deliveryFor(t *testing.T, c company, eventID, subscriptionID string) delivery {
	t.Helper()
	var l struct{ Data []delivery }
	c.Native.MustDo("GET", "/v1/deliveries?event_id="+eventID, nil, http.StatusOK, &l)
	for _, d := range l.Data {
		if d.SubscriptionID == subscriptionID {
			return d
		}
	}
	t.Fatalf("event %s has no delivery to subscription %s: %+v", eventID, subscriptionID, l.Data)
	return delivery{}
}

// subscriptionOf finds the subscription behind a webhook through the native API, by its URL.
func subscriptionOf(t *testing.T, c company, url string) engine.Subscription {
	t.Helper()
	var l struct{ Data []engine.Subscription }
	c.Native.MustDo("GET", "/v1/subscriptions?limit=200", nil, http.StatusOK, &l)
	for _, s := range l.Data {
		if s.URL == url {
			return s
		}
	}
	t.Fatalf("no subscription for %s", url)
	return engine.Subscription{}
}

// TestEndToEndEveryTypeVerifiedByPython registers webhooks through the compatible API, publishes
// an event for each of the five objects and three actions, and has a receiver written in Python
// check each call's type, exact body and signature with Python's hmac module.
func TestEndToEndEveryTypeVerifiedByPython(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	acme := newCompany(t, node, "Acme")
	const secret = "a secret key, chosen by the integrator ✓"
	signed := startPython(t, secret)
	unsigned := startPython(t, "")

	everything := register(t, acme, map[string]any{"name": "Everything", "types": allTypes(), "url": signed.URL + "/altoviz/in", "secretKey": secret})
	if everything.ID <= 0 || everything.Name != "Everything" || !slices.Equal(everything.Types, allTypes()) ||
		everything.URL != signed.URL+"/altoviz/in" || everything.SecretKey == nil || *everything.SecretKey != secret {
		t.Fatalf("registered %+v", everything)
	}
	customers := register(t, acme, map[string]any{"name": "Demo customers", "types": []string{"CustomerCreated", "CustomerUpdated", "CustomerDeleted"}, "url": unsigned.URL})
	if customers.ID <= everything.ID || customers.SecretKey != nil {
		t.Fatalf("registered %+v", customers)
	}
	signedSub := subscriptionOf(t, acme, everything.URL)
	if signedSub.Format != "altoviz" || signedSub.AccountID != acme.AccountID || len(signedSub.Events) != 18 {
		t.Errorf("the webhook's subscription: %+v", signedSub)
	}

	type sent struct{ eventID, data string }
	want := map[string]sent{}
	for i, o := range objects {
		for j, a := range actions {
			data := map[string]any{"id": 100*i + j, "number": fmt.Sprintf("%s-%03d", o.vendor, j), "companyName": "Auchan hypermarché", "note": "line 1\nline 2 \"quoted\" <&>", "amount": 12.5, "tags": []string{"a"}, "shippingAddress": nil}
			raw, _ := json.Marshal(data)
			p := publish(t, node, acme.AccountID, o.canonical+"."+a.canonical, data)
			wantDeliveries := 1
			if o.vendor == "Customer" {
				wantDeliveries = 2
			}
			if p.Deliveries != wantDeliveries {
				t.Errorf("%s.%s made %d deliveries, want %d", o.canonical, a.canonical, p.Deliveries, wantDeliveries)
			}
			want[o.vendor+a.vendor] = sent{p.ID, string(raw)}
		}
	}

	calls := signed.waitFor(t, 15)
	seen := map[string]bool{}
	for _, c := range calls {
		if !c.Verified || c.Error != "" || c.Signature == nil {
			t.Errorf("python did not verify the %s call (%s): %s", c.Type, c.Error, c.Body)
			continue
		}
		s, ok := want[c.Type]
		if !ok || seen[c.Type] {
			t.Errorf("unexpected or repeated type %q", c.Type)
			continue
		}
		seen[c.Type] = true
		d := deliveryFor(t, acme, s.eventID, signedSub.ID)
		// The document: a call posts the "webhook id", "id": "1233", a string; the delivery's id
		// comes in X-DELIVERY-ID.
		webhookID := strconv.FormatInt(everything.ID, 10)
		wantBody := `{"id":"` + webhookID + `","type":"` + c.Type + `","data":` + s.data + `}`
		if c.Body != wantBody {
			t.Errorf("%s: body\n%s\nwant\n%s", c.Type, c.Body, wantBody)
		}
		if !c.IDIsString || c.ID != webhookID || c.DeliveryID != d.ID || c.Path != "/altoviz/in" || c.ContentType != "application/json" {
			t.Errorf("%s: id %#v (string %v, webhook %s), X-DELIVERY-ID %q (delivery %s), path %q, content type %q",
				c.Type, c.ID, c.IDIsString, webhookID, c.DeliveryID, d.ID, c.Path, c.ContentType)
		}
	}
	if len(seen) != 15 {
		t.Errorf("%d of the 15 types arrived", len(seen))
	}

	// The webhook without a secret key gets its three customer calls, unsigned, each naming it.
	for _, c := range unsigned.waitFor(t, 3) {
		if !c.Verified || c.Signature != nil || !slices.Contains([]string{"CustomerCreated", "CustomerUpdated", "CustomerDeleted"}, c.Type) {
			t.Errorf("unsigned webhook got a %s call, verified %v, signature %v: %s", c.Type, c.Verified, c.Signature != nil, c.Body)
		}
		if c.ID != strconv.FormatInt(customers.ID, 10) || !strings.HasPrefix(c.DeliveryID, "dlv_") {
			t.Errorf("unsigned webhook's call: id %#v (webhook %d), X-DELIVERY-ID %q", c.ID, customers.ID, c.DeliveryID)
		}
	}

	// customer.* is the same as client.* to Altoviz webhooks.
	p := publish(t, node, acme.AccountID, "customer.update", map[string]any{"id": 9})
	if p.Deliveries != 2 {
		t.Errorf("customer.update made %d deliveries, want 2", p.Deliveries)
	}
	last := signed.waitFor(t, 16)[15]
	if !last.Verified || last.Type != "CustomerUpdated" || !strings.HasSuffix(last.Body, `"data":{"id":9}}`) {
		t.Errorf("customer.update arrived as %s (verified %v)", last.Body, last.Verified)
	}
	if n := signed.count(); n != 16 {
		t.Errorf("the signed webhook got %d calls, want 16", n)
	}
}

// TestRetryCarriesTheSameIDAndSignature: a receiver that failed gets the same call again, byte for
// byte, so it can recognise the duplicate by its id.
func TestRetryCarriesTheSameIDAndSignature(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	node := startAt(t, clock)
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(n int, _ *nodetest.Request) (int, http.Header, string) {
		if n == 0 {
			return http.StatusServiceUnavailable, nil, ""
		}
		return http.StatusOK, nil, ""
	})
	acme := newCompany(t, node, "Acme")
	const secret = "retry secret"
	register(t, acme, map[string]any{"name": "Invoices", "types": []string{"InvoiceCreated"}, "url": rc.URL, "secretKey": secret})
	ev := publish(t, node, acme.AccountID, "invoice.create", map[string]any{"id": 1})
	rc.WaitFor(t, 1, wait)
	sub := subscriptionOf(t, acme, rc.URL)
	deadline := time.Now().Add(wait)
	for d := deliveryFor(t, acme, ev.ID, sub.ID); d.State != "pending" || d.Attempts != 1; d = deliveryFor(t, acme, ev.ID, sub.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("delivery %+v never came back to pending after its failure", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	clock.Advance(10 * time.Second) // past the first retry (5 s plus jitter)
	reqs := rc.WaitFor(t, 2, wait)
	if string(reqs[0].Body) != string(reqs[1].Body) || reqs[0].Header.Get("X-Signature") != reqs[1].Header.Get("X-Signature") {
		t.Errorf("the retry differs:\n%s %s\n%s %s", reqs[0].Body, reqs[0].Header.Get("X-Signature"), reqs[1].Body, reqs[1].Header.Get("X-Signature"))
	}
	verifyWithPython(t, secret, reqs[1].Header.Get("X-Signature"), reqs[1].Body)
}

// verifyWithPython has examples/receivers/altoviz.py check one signature with Python's hmac.
func verifyWithPython(t *testing.T, secret, signature string, body []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(runtimetest.RepoRoot(t), "examples", "receivers", "altoviz.py")
	out, err := exec.Command(python(t), script, "verify", "--secret", secret, "--signature", signature, file).CombinedOutput()
	if err != nil {
		t.Errorf("python did not verify %q over %s: %v: %s", signature, body, err, out)
	}
}

// TestSecretKeyInTheStandardWebhooksForm: a secret key that looks like "whsec_<base64>" is still
// the key, byte for byte, that the receiver's HMAC uses.
func TestSecretKeyInTheStandardWebhooksForm(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	rc := nodetest.NewReceiver(t)
	acme := newCompany(t, node, "Acme")
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	w := register(t, acme, map[string]any{"name": "Quotes", "types": []string{"QuoteDeleted"}, "url": rc.URL, "secretkey": secret})
	if w.SecretKey == nil || *w.SecretKey != secret {
		t.Errorf("secretkey (lower case) was not taken: %+v", w)
	}
	publish(t, node, acme.AccountID, "quote.delete", map[string]any{"id": 3})
	got := rc.WaitFor(t, 1, wait)[0]
	verifyWithPython(t, secret, got.Header.Get("X-Signature"), got.Body)
}

// TestNativeSubscriptionIsAWebhookWithAnIntegerID: a subscription in the altoviz format made through
// the native API gets an integer id after the registered ones, is in the Altoviz list, its calls carry
// that id (a string, checked by Python), its url counts as registered, and DELETE ?id= removes it.
func TestNativeSubscriptionIsAWebhookWithAnIntegerID(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	acme := newCompany(t, node, "Acme")
	const secret = "a native secret, 16 bytes or more"
	py := startPython(t, secret)
	registered := register(t, acme, map[string]any{"name": "Registered", "types": []string{"QuoteCreated"}, "url": py.URL + "/registered"})

	var native engine.Subscription
	acme.Native.MustDo("POST", "/v1/subscriptions", map[string]any{
		"account_id": acme.AccountID, "format": "altoviz", "events": []string{"invoice.create"},
		"url": py.URL + "/native", "secret": secret,
	}, http.StatusCreated, &native)

	ws := list(t, acme)
	if len(ws) != 2 || ws[0].ID != registered.ID || ws[1].ID <= registered.ID || ws[1].URL != py.URL+"/native" ||
		ws[1].Name != "" || !slices.Equal(ws[1].Types, []string{"InvoiceCreated"}) {
		t.Fatalf("list %+v: want the registered webhook, then the native one with a later id", ws)
	}
	nativeID := ws[1].ID
	if again := list(t, acme); !slices.Equal(ids(again), []int64{registered.ID, nativeID}) {
		t.Errorf("ids changed between lists: %v", ids(again))
	}

	publish(t, node, acme.AccountID, "invoice.create", map[string]any{"id": 1})
	c := py.waitFor(t, 1)[0]
	if !c.Verified || !c.IDIsString || c.ID != strconv.FormatInt(nativeID, 10) || !strings.HasPrefix(c.DeliveryID, "dlv_") {
		t.Errorf("the native webhook's call: verified %v (%s), id %#v (string %v), want %d; X-DELIVERY-ID %q",
			c.Verified, c.Error, c.ID, c.IDIsString, nativeID, c.DeliveryID)
	}

	// Its url is taken, as a registered webhook's is.
	acme.Altoviz.MustDo("POST", webhooks, map[string]any{"name": "Again", "types": []string{"InvoiceCreated"}, "url": py.URL + "/native"}, http.StatusBadRequest, nil)
	acme.Altoviz.MustDo("DELETE", webhooks+"?id="+strconv.FormatInt(nativeID, 10), nil, http.StatusOK, nil)
	if got := ids(list(t, acme)); !slices.Equal(got, []int64{registered.ID}) {
		t.Errorf("after removing the native webhook: %v", got)
	}
	acme.Native.MustDo("GET", "/v1/subscriptions/"+native.ID, nil, http.StatusNotFound, nil)
}

// TestNativeSubscriptionDeliveredBeforeListingGetsItsIDThen: a delivery is the first to look at a
// native subscription; the id it carries is the one the list shows afterwards.
func TestNativeSubscriptionDeliveredBeforeListingGetsItsIDThen(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	acme := newCompany(t, node, "Acme")
	const secret = "another native secret, long enough"
	py := startPython(t, secret)
	acme.Native.MustDo("POST", "/v1/subscriptions", map[string]any{
		"account_id": acme.AccountID, "format": "altoviz", "events": []string{"product.delete"}, "url": py.URL, "secret": secret,
	}, http.StatusCreated, nil)
	publish(t, node, acme.AccountID, "product.delete", map[string]any{"id": 2})
	publish(t, node, acme.AccountID, "product.delete", map[string]any{"id": 3})
	calls := py.waitFor(t, 2)
	ws := list(t, acme)
	if len(ws) != 1 {
		t.Fatalf("list %+v", ws)
	}
	for _, c := range calls {
		if !c.Verified || c.ID != strconv.FormatInt(ws[0].ID, 10) || !c.IDIsString {
			t.Errorf("call id %#v, the list says %d", c.ID, ws[0].ID)
		}
	}
	if calls[0].DeliveryID == calls[1].DeliveryID {
		t.Errorf("two deliveries share X-DELIVERY-ID %q", calls[0].DeliveryID)
	}
}
