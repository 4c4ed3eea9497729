package host_test

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// rotated is what the native API shows of a subscription, with the secret only a rotation shows.
type rotated struct {
	ID                      string     `json:"id"`
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// checkSignatures requires exactly one X-SIGNATURE, made with current, and exactly one
// X-SIGNATURE-PREVIOUS made with previous, or none when previous is empty.
func checkSignatures(t *testing.T, req *nodetest.Request, current, previous string) {
	t.Helper()
	if got := req.Header.Values("X-Signature"); len(got) != 1 || got[0] != hexHMAC(current, req.Body) {
		t.Errorf("X-SIGNATURE is %q, want only the current key's %s", got, hexHMAC(current, req.Body))
	}
	got := req.Header.Values("X-Signature-Previous")
	switch {
	case previous == "" && len(got) != 0:
		t.Errorf("X-SIGNATURE-PREVIOUS is %q, want none", got)
	case previous != "" && (len(got) != 1 || got[0] != hexHMAC(previous, req.Body)):
		t.Errorf("X-SIGNATURE-PREVIOUS is %q, want only the previous key's %s", got, hexHMAC(previous, req.Body))
	}
}

// noSecretInReads reads everything the API shows of a company's webhooks, subscriptions and
// deliveries, and fails if any of it holds one of the secrets, as it is or base64-encoded.
func noSecretInReads(t *testing.T, c company, secrets ...string) {
	t.Helper()
	reads := map[string]*nodetest.Response{
		"webhooks":      c.Altoviz.MustDo("GET", webhooks, nil, http.StatusOK, nil),
		"subscriptions": c.Native.MustDo("GET", "/v1/subscriptions?limit=200", nil, http.StatusOK, nil),
	}
	var subs struct{ Data []struct{ ID string } }
	reads["subscriptions"].JSON(t, &subs)
	for _, s := range subs.Data {
		reads["subscription "+s.ID] = c.Native.MustDo("GET", "/v1/subscriptions/"+s.ID, nil, http.StatusOK, nil)
	}
	var deliveries struct{ Data []delivery }
	reads["deliveries"] = c.Native.MustDo("GET", "/v1/deliveries?limit=200", nil, http.StatusOK, &deliveries)
	for _, d := range deliveries.Data {
		reads["delivery "+d.ID] = c.Native.MustDo("GET", "/v1/deliveries/"+d.ID, nil, http.StatusOK, nil)
	}
	if len(deliveries.Data) == 0 {
		t.Error("no deliveries to read: the check would miss the attempt log")
	}
	for what, r := range reads {
		for _, s := range secrets {
			if strings.Contains(string(r.Body), s) || strings.Contains(string(r.Body), base64.StdEncoding.EncodeToString([]byte(s))) {
				t.Errorf("%s shows the secret %q: %s", what, s, r.Body)
			}
		}
	}
}

// TestKeyRotationThroughTheNativeAPI: the native rotate-secret call on a webhook registered with
// a secret key gives it a generated key that signs as shown; until the overlap ends X-SIGNATURE
// verifies with the new key and X-SIGNATURE-PREVIOUS with the old one, and afterwards only
// X-SIGNATURE is sent. No read after registration shows either key.
func TestKeyRotationThroughTheNativeAPI(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	node := startAt(t, clock)
	rc := nodetest.NewReceiver(t)
	acme := newCompany(t, node, "Acme")
	const oldKey = "the integrator's first key"
	register(t, acme, map[string]any{"name": "Invoices", "types": []string{"InvoiceCreated", "InvoiceUpdated"}, "url": rc.URL, "secretKey": oldKey})
	sub := subscriptionOf(t, acme, rc.URL)

	var r rotated
	acme.Native.MustDo("POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", map[string]any{"overlap": "1h"}, http.StatusOK, &r)
	newKey := r.Secret
	// A receiver keys its HMAC with the text it is shown, so that text must be what the host signs
	// with: a whsec_ secret would sign with the bytes it encodes.
	if len(newKey) != 64 || strings.Trim(newKey, "0123456789abcdef") != "" {
		t.Fatalf("rotation generated %q, want 64 hex digits", newKey)
	}
	if r.PreviousSecretExpiresAt == nil || !r.PreviousSecretExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("the previous key expires at %v, want an hour from %v", r.PreviousSecretExpiresAt, clock.Now())
	}

	first := publish(t, node, acme.AccountID, "invoice.create", map[string]any{"id": 1})
	during := rc.WaitFor(t, 1, wait)[0]
	checkSignatures(t, during, newKey, oldKey)
	verifyWithPython(t, newKey, during.Header.Get("X-Signature"), during.Body)
	verifyWithPython(t, oldKey, during.Header.Get("X-Signature-Previous"), during.Body)

	// The outcome must be recorded before time moves, or the attempt could land after the overlap.
	waitForState(t, acme, first.ID, sub.ID, "succeeded")
	clock.Advance(61 * time.Minute)
	second := publish(t, node, acme.AccountID, "invoice.update", map[string]any{"id": 1, "total": "12.50"})
	after := rc.WaitFor(t, 2, wait)[1]
	checkSignatures(t, after, newKey, "")
	if !strings.Contains(string(after.Body), `"type":"InvoiceUpdated"`) {
		t.Errorf("the call after the overlap is %s", after.Body)
	}
	waitForState(t, acme, second.ID, sub.ID, "succeeded")

	noSecretInReads(t, acme, oldKey, newKey)
}

// TestRegisteringAgainRotatesTheKey: registering a url again with its webhook's name and types and
// a new secretKey rotates that webhook's key for a day. A receiver still holding the old key (a
// Python one, written from the vendor's document) keeps accepting calls by X-SIGNATURE-PREVIOUS.
// Other registrations of the url are refused and change nothing.
func TestRegisteringAgainRotatesTheKey(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	node := startAt(t, clock)
	acme := newCompany(t, node, "Acme")
	// The old key looks like a Standard Webhooks secret: it must still sign as its own text, before
	// and after it is rotated out.
	const oldKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const newKey = "a new key, chosen by the integrator ✓"
	old := startPython(t, oldKey)
	body := map[string]any{"name": "Customers", "types": []string{"CustomerCreated", "CustomerUpdated"}, "url": old.URL, "secretKey": oldKey}
	first := register(t, acme, body)

	body["types"] = []string{"customerupdated", "CustomerCreated"} // the same types, told differently
	body["secretKey"] = newKey
	var again webhook
	strictJSON(t, acme.Altoviz.MustDo("POST", webhooks, body, http.StatusOK, nil).Body, &again)
	if again.ID != first.ID || again.Name != "Customers" || again.URL != old.URL || again.SecretKey == nil || *again.SecretKey != newKey ||
		!slices.Equal(again.Types, []string{"CustomerCreated", "CustomerUpdated"}) {
		t.Errorf("registered again %+v, want webhook %d with the new key", again, first.ID)
	}
	if ws := list(t, acme); len(ws) != 1 || ws[0].ID != first.ID || ws[0].SecretKey != nil {
		t.Errorf("lists %+v, want the one webhook, without its key", ws)
	}
	sub := subscriptionOf(t, acme, old.URL)
	var shown rotated
	acme.Native.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &shown)
	if shown.PreviousSecretExpiresAt == nil || !shown.PreviousSecretExpiresAt.Equal(clock.Now().Add(24*time.Hour)) {
		t.Errorf("the previous key expires at %v, want a day from %v", shown.PreviousSecretExpiresAt, clock.Now())
	}

	ev := publish(t, node, acme.AccountID, "client.create", map[string]any{"id": 370, "companyName": "Auchan hypermarché"})
	c := old.waitFor(t, 1)[0]
	if !c.Verified || c.VerifiedBy != "X-SIGNATURE-PREVIOUS" || c.Error != "" {
		t.Errorf("the receiver holding the old key: verified %v by %q (%s)", c.Verified, c.VerifiedBy, c.Error)
	}
	if c.Signature == nil || *c.Signature != hexHMAC(newKey, []byte(c.Body)) ||
		c.PreviousSignature == nil || *c.PreviousSignature != hexHMAC(oldKey, []byte(c.Body)) {
		t.Errorf("X-SIGNATURE %v and X-SIGNATURE-PREVIOUS %v, want the new key's and the old key's", c.Signature, c.PreviousSignature)
	}
	waitForState(t, acme, ev.ID, sub.ID, "succeeded")

	for name, tc := range map[string]struct {
		change      func(map[string]any)
		field, says string
	}{
		"the same key":    {func(b map[string]any) {}, "secretKey", "is the current secret"},
		"no key":          {func(b map[string]any) { delete(b, "secretKey") }, "url", "is already registered for this url"},
		"other types":     {func(b map[string]any) { b["secretKey"], b["types"] = "third", []string{"CustomerCreated"} }, "url", "same name and types"},
		"another name":    {func(b map[string]any) { b["secretKey"], b["name"] = "third", "Clients" }, "url", "same name and types"},
		"an unknown type": {func(b map[string]any) { b["secretKey"], b["types"] = "third", []string{"CustomerMerged"} }, "types", "is not a webhook type"},
	} {
		b := map[string]any{"name": "Customers", "types": []string{"CustomerCreated", "CustomerUpdated"}, "url": old.URL, "secretKey": newKey}
		tc.change(b)
		resp := acme.Altoviz.Do("POST", webhooks, b)
		if resp.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, resp.Status, resp.Body)
			continue
		}
		checkInvalid(t, resp, tc.field, tc.says)
	}
	var unchanged rotated
	acme.Native.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &unchanged)
	if unchanged.PreviousSecretExpiresAt == nil || !unchanged.PreviousSecretExpiresAt.Equal(*shown.PreviousSecretExpiresAt) || subscriptionCount(t, acme) != 1 {
		t.Errorf("a refused registration changed the webhook: %+v, %d subscriptions", unchanged, subscriptionCount(t, acme))
	}

	noSecretInReads(t, acme, oldKey, newKey)
}

// TestAWebhookWithoutAKeyGetsItsFirst: a webhook registered without a secret key sends no
// signature; registering it again with one, or rotating it through the native API, gives it a key,
// with nothing to overlap.
func TestAWebhookWithoutAKeyGetsItsFirst(t *testing.T) {
	t.Parallel()
	node := start(t, nil)
	rc := nodetest.NewReceiver(t)
	acme := newCompany(t, node, "Acme")
	body := map[string]any{"name": "Quotes", "types": []string{"QuoteCreated"}, "url": rc.URL + "/again"}
	register(t, acme, body)
	register(t, acme, map[string]any{"name": "Quotes", "types": []string{"QuoteCreated"}, "url": rc.URL + "/native"})

	ev := publish(t, node, acme.AccountID, "quote.create", map[string]any{"id": 1})
	for _, req := range rc.WaitFor(t, 2, wait) {
		if len(req.Header.Values("X-Signature")) != 0 || len(req.Header.Values("X-Signature-Previous")) != 0 {
			t.Errorf("a webhook without a key got signatures: %v", req.Header)
		}
	}
	for _, url := range []string{rc.URL + "/again", rc.URL + "/native"} {
		waitForState(t, acme, ev.ID, subscriptionOf(t, acme, url).ID, "succeeded")
	}

	const chosen = "now with a key"
	body["secretKey"] = chosen
	acme.Altoviz.MustDo("POST", webhooks, body, http.StatusOK, nil)
	var r rotated
	acme.Native.MustDo("POST", "/v1/subscriptions/"+subscriptionOf(t, acme, rc.URL+"/native").ID+"/rotate-secret", nil, http.StatusOK, &r)
	if len(r.Secret) != 64 || r.PreviousSecretExpiresAt != nil {
		t.Errorf("the native rotation gave %q, overlapping until %v; want 64 hex digits and no overlap", r.Secret, r.PreviousSecretExpiresAt)
	}
	for _, url := range []string{rc.URL + "/again", rc.URL + "/native"} {
		var s rotated
		acme.Native.MustDo("GET", "/v1/subscriptions/"+subscriptionOf(t, acme, url).ID, nil, http.StatusOK, &s)
		if s.PreviousSecretExpiresAt != nil {
			t.Errorf("%s: a first key overlaps until %v", url, s.PreviousSecretExpiresAt)
		}
	}

	publish(t, node, acme.AccountID, "quote.create", map[string]any{"id": 2})
	for _, req := range rc.WaitFor(t, 4, wait)[2:] {
		switch req.Path {
		case "/again":
			checkSignatures(t, req, chosen, "")
		case "/native":
			checkSignatures(t, req, r.Secret, "")
		default:
			t.Errorf("a call to %s", req.Path)
		}
	}
	noSecretInReads(t, acme, chosen, r.Secret)
}
