package host_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/examples/receivers"
)

// The permission a user needs to receive a channel's callbacks, written out by hand from
// SalesKing's push-notification document rather than computed by the style's own code: the
// document's example is the invoice.delete channel ("if a user cannot delete invoices his apps
// won't receive the callback"), and it names rights on an object as its scopes do, the object's
// plural and the action after a colon ("scope=clients:create").
const canDeleteInvoices = "invoices:delete"

// TestRolesEndToEnd is SalesKing's role rule on a real node, with the real salesking plugin and
// the independent receiver (examples/receivers/salesking.js) on loopback. Three tokens of one app
// subscribe to invoice.delete: one granted by a clerk who may not delete invoices, one by a
// manager who may, one that names no user. The clerk's app gets no callback and its delivery is
// skipped, visible as such through the API, and skipped again when retried by hand; then the
// platform swaps the two users' permissions,
// and the next event reaches the clerk's app and not the manager's; then the manager is given the
// whole object and the clerk is removed from the company; last, an event held back by deliver_at
// meets the permissions changed while it waited. The token without a user receives every event.
func TestRolesEndToEnd(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	secretFile := filepath.Join(t.TempDir(), "app-secret")
	if err := os.WriteFile(secretFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rc := receivers.Serve(t, "salesking.js", "--secret-file", secretFile)
	appURL := rc.URL + "/salesking"
	tn := node.NewTenant("roles", appURL)
	if err := os.WriteFile(secretFile, []byte(tn.AppSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &bundle{node: node, tenant: tn, appURL: appURL, base: node.URL() + "/compat/salesking/api"}

	users := "/v1/accounts/" + tn.AccountID + "/users/"
	setPermissions := func(user string, perms ...string) {
		t.Helper()
		r := node.Admin.Do("PUT", users+user, map[string]any{"permissions": append([]string{}, perms...)})
		if r.Status != http.StatusOK && r.Status != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", user, r.Status, r.Body)
		}
	}
	setPermissions("clerk", "clients:create", "invoices:create")
	setPermissions("manager", canDeleteInvoices)
	grantBy := func(user string) string {
		t.Helper()
		body := map[string]any{"kind": "access_token", "account_id": tn.AccountID, "scopes": []string{"invoices"}}
		if user != "" {
			body["user_id"] = user
		}
		var cred engine.IssuedCredential
		node.Admin.MustDo("POST", "/v1/apps/"+tn.AppID+"/credentials", body, http.StatusCreated, &cred)
		if cred.UserID != user {
			t.Fatalf("the token records user %q; want %q", cred.UserID, user)
		}
		return cred.Token
	}
	subs := map[string]string{} // path on the receiver -> subscription id
	for _, who := range []string{"clerk", "manager", ""} {
		path := "/" + who
		if who == "" {
			path = "/nobody"
		}
		subs[b.subscribe(t, grantBy(who), "invoice.delete", appURL+path).ID] = "/salesking" + path
	}
	subOf := func(path string) string {
		for id, p := range subs {
			if p == "/salesking"+path {
				return id
			}
		}
		t.Fatalf("no subscription calls back to %s", path)
		return ""
	}

	deleteInvoiceAt := func(id string, deliverAt time.Time) string {
		t.Helper()
		ev := map[string]any{"account_id": tn.AccountID, "type": "invoice.delete",
			"entity": map[string]string{"type": "invoice", "id": id}, "data": map[string]any{"id": id}}
		if !deliverAt.IsZero() {
			ev["deliver_at"] = deliverAt.UTC().Format(time.RFC3339Nano)
		}
		var p engine.Published
		tn.App.MustDo("POST", "/v1/events", ev, http.StatusAccepted, &p)
		if p.Deliveries != 3 {
			t.Fatalf("invoice.delete %s made %d deliveries; want one per subscription, 3", id, p.Deliveries)
		}
		return p.ID
	}
	deleteInvoice := func(id string) string { return deleteInvoiceAt(id, time.Time{}) }
	// ended waits for the event's delivery to path's subscription to end, and wants it in state.
	ended := func(event, path string, want engine.DeliveryState) roleDelivery {
		t.Helper()
		sub := subOf(path)
		deadline := time.Now().Add(20 * time.Second)
		for {
			var l struct{ Data []roleDelivery }
			tn.App.MustDo("GET", "/v1/deliveries?event_id="+event+"&subscription_id="+sub, nil, http.StatusOK, &l)
			if len(l.Data) == 1 && l.Data[0].State != engine.DeliveryPending && l.Data[0].State != engine.DeliveryInFlight {
				if l.Data[0].State != want {
					t.Fatalf("the delivery to %s is %s (%s); want %s", path, l.Data[0].State, l.Data[0].LastError, want)
				}
				var d roleDelivery
				tn.App.MustDo("GET", "/v1/deliveries/"+l.Data[0].ID, nil, http.StatusOK, &d)
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("the delivery to %s did not end within 20 s: %+v", path, l.Data)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wantSkipped := func(d roleDelivery, user string) {
		t.Helper()
		if !strings.Contains(d.LastError, user) || !strings.Contains(d.LastError, canDeleteInvoices) {
			t.Errorf("skipped delivery's last_error %q; want it to name user %s and %s", d.LastError, user, canDeleteInvoices)
		}
		if len(d.AttemptLog) != 1 || d.AttemptLog[0].Outcome != engine.OutcomeSkip || d.AttemptLog[0].RequestURL != "" || d.AttemptLog[0].ResponseStatus != 0 {
			t.Errorf("skipped delivery's attempts %+v; want one, outcome skip, with no request", d.AttemptLog)
		}
	}
	listSkipped := func() []string {
		t.Helper()
		var l struct{ Data []roleDelivery }
		tn.App.MustDo("GET", "/v1/deliveries?status=skipped", nil, http.StatusOK, &l)
		var ids []string
		for _, d := range l.Data {
			if d.State != engine.DeliverySkipped {
				t.Errorf("?status=skipped listed a %s delivery", d.State)
			}
			ids = append(ids, d.ID)
		}
		slices.Sort(ids)
		return ids
	}

	// The clerk may not delete invoices: no callback, and the delivery is skipped.
	first := deleteInvoice("i1")
	ended(first, "/manager", engine.DeliverySucceeded)
	ended(first, "/nobody", engine.DeliverySucceeded)
	clerk1 := ended(first, "/clerk", engine.DeliverySkipped)
	wantSkipped(clerk1, "clerk")
	if got := listSkipped(); !slices.Equal(got, []string{clerk1.ID}) {
		t.Errorf("GET /v1/deliveries?status=skipped: %v; want the clerk's %s", got, clerk1.ID)
	}

	// Retried by hand while the clerk still may not delete invoices, it is skipped again.
	tn.App.MustDo("POST", "/v1/deliveries/"+clerk1.ID+"/retry", nil, http.StatusAccepted, nil)
	if again := ended(first, "/clerk", engine.DeliverySkipped); len(again.AttemptLog) != 2 || again.AttemptLog[1].Outcome != engine.OutcomeSkip || again.AttemptLog[1].RequestURL != "" {
		t.Errorf("the retried skipped delivery: attempts %+v; want a second skip, with no request", again.AttemptLog)
	}

	// The platform changes the users' rights: they apply to the next event.
	setPermissions("clerk", "clients:create", "invoices:create", canDeleteInvoices)
	setPermissions("manager", "invoices:create")
	second := deleteInvoice("i2")
	ended(second, "/clerk", engine.DeliverySucceeded)
	ended(second, "/nobody", engine.DeliverySucceeded)
	manager2 := ended(second, "/manager", engine.DeliverySkipped)
	wantSkipped(manager2, "manager")
	want := []string{clerk1.ID, manager2.ID}
	slices.Sort(want)
	if got := listSkipped(); !slices.Equal(got, want) {
		t.Errorf("GET /v1/deliveries?status=skipped: %v; want %v", got, want)
	}

	// A right on the whole object covers its actions, as the scope "clients" does; a user the
	// platform removed from the company may see nothing.
	setPermissions("manager", "invoices")
	node.Admin.MustDo("DELETE", users+"clerk", nil, http.StatusNoContent, nil)
	third := deleteInvoice("i3")
	ended(third, "/manager", engine.DeliverySucceeded)
	ended(third, "/nobody", engine.DeliverySucceeded)
	if clerk3 := ended(third, "/clerk", engine.DeliverySkipped); !strings.Contains(clerk3.LastError, `"clerk" is no longer a user`) {
		t.Errorf("the removed user's delivery: last_error %q; want it to say the user is gone", clerk3.LastError)
	}

	// Permissions are read when a delivery goes, not when it is queued: an event held back by
	// deliver_at meets the rights the manager has by then.
	fourth := deleteInvoiceAt("i4", time.Now().Add(3*time.Second))
	setPermissions("manager", "clients:create")
	ended(fourth, "/nobody", engine.DeliverySucceeded)
	if clerk4 := ended(fourth, "/clerk", engine.DeliverySkipped); !strings.Contains(clerk4.LastError, `"clerk" is no longer a user`) {
		t.Errorf("the removed user's delivery: last_error %q; want it to say the user is gone", clerk4.LastError)
	}
	wantSkipped(ended(fourth, "/manager", engine.DeliverySkipped), "manager")

	// What reached the receiver, each checked there by SalesKing's SDK rules: the deliveries that
	// succeeded, and nothing for the skipped ones. A skipped delivery has ended without a request,
	// so none can come later.
	got := parseLines(t, rc.WaitFor(t, 7, 20*time.Second))
	type arrival struct{ path, event string }
	var arrived []arrival
	for _, l := range got {
		if !l.Valid || l.Data["channel"] != "invoice.delete" {
			t.Errorf("the receiver got %+v", l)
		}
		obj, _ := l.Data["invoice"].(map[string]any)
		id, _ := obj["id"].(string)
		arrived = append(arrived, arrival{l.Path, id})
	}
	slices.SortFunc(arrived, func(a, b arrival) int { return strings.Compare(a.event+a.path, b.event+b.path) })
	wantArrived := []arrival{{"/salesking/manager", "i1"}, {"/salesking/nobody", "i1"}, {"/salesking/clerk", "i2"}, {"/salesking/nobody", "i2"},
		{"/salesking/manager", "i3"}, {"/salesking/nobody", "i3"}, {"/salesking/nobody", "i4"}}
	if !slices.Equal(arrived, wantArrived) {
		t.Errorf("the receiver got %v; want %v", arrived, wantArrived)
	}
	if n := len(rc.Lines()); n != 7 {
		t.Errorf("the receiver got %d requests; want 7", n)
	}

	// Skips are counted apart from failures.
	s := node.Admin.MustDo("GET", "/metrics", nil, http.StatusOK, nil)
	for _, want := range []string{
		`switchyard_deliveries_total{format="salesking",outcome="skipped"} 6`,
		`switchyard_attempts_total{format="salesking",outcome="skip"} 6`,
		`switchyard_deliveries_total{format="salesking",outcome="succeeded"} 7`,
	} {
		if !strings.Contains(string(s.Body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(s.Body), `switchyard_deliveries_total{format="salesking",outcome="failed"}`) {
		t.Error("a skipped delivery was counted as failed")
	}
}

// roleDelivery is a delivery as GET /v1/deliveries and /v1/deliveries/{id} show it.
type roleDelivery struct {
	ID         string               `json:"id"`
	State      engine.DeliveryState `json:"state"`
	LastError  string               `json:"last_error"`
	AttemptLog []engine.Attempt     `json:"attempt_log"`
}
