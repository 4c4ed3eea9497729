package host_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestAPIVersionsAreKeptApart: QuicklySign's v0 subscriptions and v1 webhooks are two APIs; a call
// of one lists, finds and removes only its own, as an integrator moving from one to the other
// expects (its v0 clean-up must not remove the webhooks its v1 code made).
func TestAPIVersionsAreKeptApart(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("versions", "")
	c := newClient(t, node, tn, tn.AccountID)
	s := c.subscribe(docA, rc.URL+"/v0")
	w := c.webhook(docA, rc.URL+"/v1")

	var subs struct{ Subscriptions []sub }
	c.ok("GET", "/v0/subscriptions", nil, nil, &subs)
	if len(subs.Subscriptions) != 1 || subs.Subscriptions[0].Key != s.Key {
		t.Errorf("v0 list: %+v; want the subscription alone", subs.Subscriptions)
	}
	var hooks struct{ Webhooks []sub }
	c.ok("GET", "/v1/webhooks", url.Values{"entity_key": {docA}}, nil, &hooks)
	if len(hooks.Webhooks) != 1 || hooks.Webhooks[0].Key != w.Key {
		t.Errorf("v1 list: %+v; want the webhook alone", hooks.Webhooks)
	}
	for _, call := range []struct{ method, path string }{
		{"GET", "/v0/subscriptions/" + w.Key}, {"DELETE", "/v0/subscriptions/" + w.Key}, {"GET", "/v0/subscriptions/" + w.Key + "/callbacks"},
		{"GET", "/v1/webhooks/" + s.Key}, {"DELETE", "/v1/webhooks/" + s.Key}, {"GET", "/v1/webhooks/" + s.Key + "/callbacks"},
	} {
		if r := c.do(call.method, call.path, nil, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s %s, the other version's: %d %s", call.method, call.path, r.Status, r.Body)
		}
	}
	var removed struct{ Subscriptions []sub }
	c.ok("DELETE", "/v0/subscriptions", url.Values{"entity_key": {docA}}, nil, &removed)
	if len(removed.Subscriptions) != 1 || removed.Subscriptions[0].Key != s.Key {
		t.Errorf("v0 DELETE ?entity_key removed %+v; want the subscription alone", removed.Subscriptions)
	}
	c.ok("GET", "/v1/webhooks/"+w.Key, nil, nil, nil)
	// Subscribing through v0 to what a v1 webhook has is a subscription of its own.
	again := c.subscribe(docA, rc.URL+"/v1")
	if again.Key == w.Key {
		t.Errorf("a v0 subscription to the webhook's document and callback returned the webhook")
	}
}

// TestCallbackLogOutlivesItsSubscription: QuicklySign keeps callback logs while the document
// exists, so a deleted subscription's log is still served, to the client that could read it
// before and through the same API version, whichever way the subscription was deleted.
func TestCallbackLogOutlivesItsSubscription(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(_ int, r *nodetest.Request) (int, http.Header, string) {
		if r.Path == "/failing" {
			return 500, nil, "down"
		}
		return 200, nil, "thanks"
	})
	tn := node.NewTenant("kept", "")
	c := newClient(t, node, tn, tn.AccountID)
	s := c.subscribe(docA, rc.URL+"/ok")
	w := c.webhook(docA, rc.URL+"/ok")
	failing := c.subscribe(docB, rc.URL+"/failing")
	publish(t, tn, "document.update", docA)
	publish(t, tn, "document.finalize", docB)
	waitForCallback(t, c, s.Key, "succeeded", 1)
	waitForCallback(t, c, w.Key, "succeeded", 1)
	waitForCallback(t, c, failing.Key, "pending", 1)

	// Deleted through v0 by document, through the native API, and by key.
	c.ok("DELETE", "/v0/subscriptions", url.Values{"entity_key": {docA}}, nil, nil)
	tn.App.MustDo("DELETE", "/v1/subscriptions/"+w.Key, nil, http.StatusNoContent, nil)
	c.ok("DELETE", "/v0/subscriptions/"+failing.Key, nil, nil, nil)
	for _, key := range []string{s.Key, w.Key, failing.Key} {
		if r := c.do("GET", c.base(key)+"/"+key, nil, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s still found after deletion: %d", key, r.Status)
		}
	}

	for _, key := range []string{s.Key, w.Key} {
		l := c.callbacks(key, nil)
		if len(l.Callbacks) != 1 || l.Callbacks[0].Status != "succeeded" || l.Callbacks[0].EntityKey != docA ||
			l.Callbacks[0].CallbackEvent != "entity_updated" || len(l.Callbacks[0].Attempts) != 1 ||
			l.Callbacks[0].Attempts[0].StatusCode != 200 || l.Callbacks[0].Attempts[0].Response != "thanks" {
			t.Errorf("%s: the log after deletion: %+v", key, l.Callbacks)
		}
	}
	// A delivery still waiting for its retry was cancelled by the deletion: no next attempt.
	l := c.callbacks(failing.Key, nil)
	if len(l.Callbacks) != 1 || l.Callbacks[0].Status != "cancelled" || l.Callbacks[0].NextAttempt != nil ||
		len(l.Callbacks[0].Attempts) != 1 || l.Callbacks[0].Attempts[0].StatusCode != 500 {
		t.Errorf("the log of a subscription deleted while retrying: %+v", l.Callbacks)
	}

	// The other version, another account's client and a key never made find nothing.
	if r := c.do("GET", "/v1/webhooks/"+s.Key+"/callbacks", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("a deleted v0 log through v1: %d %s", r.Status, r.Body)
	}
	other := node.NewTenant("other", "")
	stranger := newClient(t, node, other, other.AccountID)
	if r := stranger.do("GET", "/v0/subscriptions/"+s.Key+"/callbacks", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("another tenant's client read a deleted log: %d %s", r.Status, r.Body)
	}
	if r := c.do("GET", "/v0/subscriptions/sub_nope/callbacks", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("a key never made: %d", r.Status)
	}
}
