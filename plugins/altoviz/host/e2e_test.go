package host_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		wantBody := `{"id":"` + d.ID + `","type":"` + c.Type + `","data":` + s.data + `}`
		if c.Body != wantBody {
			t.Errorf("%s: body\n%s\nwant\n%s", c.Type, c.Body, wantBody)
		}
		if c.ID != d.ID || c.Path != "/altoviz/in" || c.ContentType != "application/json" {
			t.Errorf("%s: id %q (delivery %s), path %q, content type %q", c.Type, c.ID, d.ID, c.Path, c.ContentType)
		}
	}
	if len(seen) != 15 {
		t.Errorf("%d of the 15 types arrived", len(seen))
	}

	// The webhook without a secret key gets its three customer calls, unsigned.
	for _, c := range unsigned.waitFor(t, 3) {
		if !c.Verified || c.Signature != nil || !slices.Contains([]string{"CustomerCreated", "CustomerUpdated", "CustomerDeleted"}, c.Type) {
			t.Errorf("unsigned webhook got a %s call, verified %v, signature %v: %s", c.Type, c.Verified, c.Signature != nil, c.Body)
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
