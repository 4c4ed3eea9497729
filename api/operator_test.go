package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// Operator actions (issue 17): retry a pending delivery now, retry in bulk, pause and resume a
// subscription, list events.

// deliveriesOf lists a subscription's deliveries, waiting until n of them are in state want.
func deliveriesOf(t *testing.T, tn *nodetest.Tenant, subID string, n int, want string) []delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var l listOf[delivery]
		tn.App.MustDo("GET", "/v1/deliveries?limit=200&subscription_id="+subID, nil, http.StatusOK, &l)
		in := 0
		for _, d := range l.Data {
			if d.State == want {
				in++
			}
		}
		if in == n {
			return l.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription %s: %d deliveries %s, want %d: %+v", subID, in, want, n, l.Data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRetryPendingDeliveryNow: a delivery waiting an hour for its retry is sent at once when
// retried (200), and the fixed receiver gets it; a delivery that has succeeded is refused with 409
// and a message of one sentence.
func TestRetryPendingDeliveryNow(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	var broken atomic.Bool
	broken.Store(true)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		if broken.Load() {
			return http.StatusServiceUnavailable, nil, ""
		}
		return http.StatusNoContent, nil, ""
	})
	tn := node.NewTenant("retry-now", "")
	sub := subscribe(t, tn, rc.URL+"/hook", map[string]any{"retry_policy": map[string]any{"schedule": []string{"1h"}}})
	ev := publish(t, tn, nil)
	rc.WaitFor(t, 1, 15*time.Second)
	d := deliveriesOf(t, tn, sub.ID, 1, "pending")[0]
	var got delivery
	tn.App.MustDo("GET", "/v1/deliveries/"+d.ID, nil, http.StatusOK, &got)
	if got.Attempts != 1 {
		t.Fatalf("before the retry: %d attempts, want 1 (the failure)", got.Attempts)
	}

	broken.Store(false)
	tn.App.MustDo("POST", "/v1/deliveries/"+d.ID+"/retry", nil, http.StatusOK, nil)
	rc.WaitFor(t, 2, 15*time.Second)
	done := deliveryOf(t, tn, ev.ID, "succeeded")
	if done.Attempts != 2 {
		t.Errorf("after the retry: %d attempts, want 2", done.Attempts)
	}

	r := tn.App.Do("POST", "/v1/deliveries/"+d.ID+"/retry", nil)
	msg := errorMessage(t, r)
	want := fmt.Sprintf("delivery %s is succeeded; only a pending, failed, dead or skipped delivery can be retried", d.ID)
	if r.Status != http.StatusConflict || msg != want {
		t.Errorf("retry of a delivery that succeeded: %d %q; want 409 %q", r.Status, msg, want)
	}
	if strings.Count(msg, d.ID) != 1 {
		t.Errorf("the message names the delivery %d times: %q", strings.Count(msg, d.ID), msg)
	}
}

// TestBulkRetry: after a receiver is fixed, one call retries one subscription's dead deliveries
// and no other's; the next, with no filter, the rest; a bad status is refused and changes nothing.
func TestBulkRetry(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	var broken atomic.Bool
	broken.Store(true)
	rc.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		if broken.Load() {
			return http.StatusInternalServerError, nil, ""
		}
		return http.StatusNoContent, nil, ""
	})
	tn := node.NewTenant("bulk-retry", "")
	once := map[string]any{"retry_policy": map[string]any{"schedule": []string{"0s"}}}
	a, b := subscribe(t, tn, rc.URL+"/a", once), subscribe(t, tn, rc.URL+"/b", once)
	for i := range 3 {
		publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": fmt.Sprint(i)}})
	}
	deliveriesOf(t, tn, a.ID, 3, "dead")
	deliveriesOf(t, tn, b.ID, 3, "dead")

	r := tn.App.Do("POST", "/v1/deliveries/retry", map[string]any{"status": "succeeded"})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(errorMessage(t, r), "status") {
		t.Errorf("bulk retry of succeeded deliveries: %d %s; want 422 naming status", r.Status, r.Body)
	}
	r = tn.App.Do("POST", "/v1/deliveries/retry", map[string]any{"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(errorMessage(t, r), "until") {
		t.Errorf("bulk retry with until before since: %d %s; want 422 naming until", r.Status, r.Body)
	}

	broken.Store(false)
	var res struct{ Retried, Limit int }
	tn.App.MustDo("POST", "/v1/deliveries/retry", map[string]any{"subscription_id": a.ID, "status": "dead"}, http.StatusOK, &res)
	if res.Retried != 3 || res.Limit != engine.MaxBulkRetry {
		t.Errorf("bulk retry of a's dead deliveries: %+v; want 3 retried, limit %d", res, engine.MaxBulkRetry)
	}
	deliveriesOf(t, tn, a.ID, 3, "succeeded")
	deliveriesOf(t, tn, b.ID, 3, "dead")

	// Since and until that hold none of them retry none.
	tn.App.MustDo("POST", "/v1/deliveries/retry", map[string]any{"until": "2000-01-01T00:00:00Z"}, http.StatusOK, &res)
	if res.Retried != 0 {
		t.Errorf("bulk retry until 2000: %d retried, want 0", res.Retried)
	}
	tn.App.MustDo("POST", "/v1/deliveries/retry", nil, http.StatusOK, &res)
	if res.Retried != 3 {
		t.Errorf("bulk retry with no filter: %d retried, want b's 3", res.Retried)
	}
	deliveriesOf(t, tn, b.ID, 3, "succeeded")
	tn.App.MustDo("POST", "/v1/deliveries/retry", nil, http.StatusOK, &res)
	if res.Retried != 0 {
		t.Errorf("bulk retry with nothing left: %d retried, want 0", res.Retried)
	}
}

// TestPauseResume: a paused subscription's events make deliveries that wait, while another
// subscription of the same account gets the same events; resumed, it gets them all.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("pause", "")
	paused, running := subscribe(t, tn, rc.URL+"/paused", nil), subscribe(t, tn, rc.URL+"/running", nil)

	var sub engine.Subscription
	tn.App.MustDo("POST", "/v1/subscriptions/"+paused.ID+"/pause", nil, http.StatusOK, &sub)
	if sub.PausedAt == nil {
		t.Fatalf("the paused subscription shows no paused_at: %+v", sub)
	}
	pausedAt := *sub.PausedAt
	tn.App.MustDo("POST", "/v1/subscriptions/"+paused.ID+"/pause", nil, http.StatusOK, &sub)
	if sub.PausedAt == nil || !sub.PausedAt.Equal(pausedAt) {
		t.Errorf("pausing again moved paused_at from %v to %v", pausedAt, sub.PausedAt)
	}
	tn.App.MustDo("GET", "/v1/subscriptions/"+paused.ID, nil, http.StatusOK, &sub)
	if sub.PausedAt == nil {
		t.Errorf("GET shows the paused subscription without paused_at")
	}

	const events = 3
	for i := range events {
		publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": fmt.Sprint(i)}})
	}
	// The running subscription's deliveries were due at the same time as the paused one's: once
	// they have all arrived, the paused ones would have too.
	deliveriesOf(t, tn, running.ID, events, "succeeded")
	waiting := deliveriesOf(t, tn, paused.ID, events, "pending")
	for _, d := range waiting {
		if d.Attempts != 0 {
			t.Errorf("delivery %s of the paused subscription was attempted %d times", d.ID, d.Attempts)
		}
	}
	for _, r := range rc.Requests() {
		if strings.HasPrefix(r.Path, "/paused") {
			t.Errorf("the paused subscription's receiver got %s", r.Path)
		}
	}

	// A fresh value: decoding into sub would keep the paused_at an answer leaves out.
	var resumed engine.Subscription
	tn.App.MustDo("POST", "/v1/subscriptions/"+paused.ID+"/resume", nil, http.StatusOK, &resumed)
	if resumed.PausedAt != nil {
		t.Errorf("the resumed subscription still shows paused_at %v", resumed.PausedAt)
	}
	deliveriesOf(t, tn, paused.ID, events, "succeeded")
	got := 0
	for _, r := range rc.Requests() {
		if strings.HasPrefix(r.Path, "/paused") {
			got++
		}
	}
	if got != events {
		t.Errorf("the resumed subscription's receiver got %d requests, want %d", got, events)
	}
	tn.App.MustDo("POST", "/v1/subscriptions/"+paused.ID+"/resume", nil, http.StatusOK, &sub)
	tn.App.MustDo("POST", "/v1/subscriptions/sub_nothing/pause", nil, http.StatusNotFound, nil)
}

// TestListEvents: the events list filters by account, type and time, pages newest first with a
// cursor, and shows a credential bound to an account that account's events only.
func TestListEvents(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	tn := node.NewTenant("events", "")
	other := node.NewTenant("other events", "")
	var ids []string
	for i, typ := range []string{"client.create", "invoice.paid", "client.update", "client.create"} {
		ids = append(ids, publish(t, tn, map[string]any{"type": typ, "entity": map[string]string{"type": "client", "id": fmt.Sprint(i)}}).ID)
	}
	otherEvent := publish(t, other, map[string]any{"account_id": other.AccountID}).ID
	list := func(c *nodetest.Client, query string) []string {
		t.Helper()
		var l listOf[engine.Event]
		c.MustDo("GET", "/v1/events"+query, nil, http.StatusOK, &l)
		var out []string
		for _, ev := range l.Data {
			out = append(out, ev.ID)
		}
		return out
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	acct := "?account_id=" + tn.AccountID
	same("the account's events", list(node.Admin, acct), []string{ids[3], ids[2], ids[1], ids[0]})
	same("by type", list(node.Admin, acct+"&type=client.create"), []string{ids[3], ids[0]})
	same("first page", list(node.Admin, acct+"&limit=2"), []string{ids[3], ids[2]})
	same("second page", list(node.Admin, acct+"&limit=2&before="+ids[2]), []string{ids[1], ids[0]})
	same("since the future", list(node.Admin, acct+"&since=2999-01-01T00:00:00Z"), nil)
	same("until the past", list(node.Admin, acct+"&until=2000-01-01T00:00:00Z"), nil)
	same("between", list(node.Admin, acct+"&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&type=invoice.paid"), []string{ids[1]})

	bound := node.Client(node.Credential(tn.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey, AccountID: tn.AccountID, Scopes: []string{engine.ScopePublish}}).Token)
	same("a key bound to the account", list(bound, ""), []string{ids[3], ids[2], ids[1], ids[0]})
	if r := bound.Do("GET", "/v1/events?account_id="+other.AccountID, nil); r.Status != http.StatusForbidden {
		t.Errorf("a bound key asking for another account's events: %d %s; want 403", r.Status, r.Body)
	}
	if got := list(other.App, "?account_id="+other.AccountID); len(got) != 1 || got[0] != otherEvent {
		t.Errorf("the other account's events: %v, want [%s]", got, otherEvent)
	}
	subscriber := node.Client(node.Credential(tn.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey}).Token)
	if r := subscriber.Do("GET", "/v1/events", nil); r.Status != http.StatusForbidden {
		t.Errorf("a key that may not publish: %d %s; want 403", r.Status, r.Body)
	}
	if r := node.Admin.Do("GET", "/v1/events?since=yesterday", nil); r.Status != http.StatusUnprocessableEntity || !strings.Contains(errorMessage(t, r), "since") {
		t.Errorf("a bad since: %d %s; want 422 naming since", r.Status, r.Body)
	}
}
