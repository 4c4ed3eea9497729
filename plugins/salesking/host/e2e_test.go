package host_test

import (
	"encoding/json"
	"net/http"
	"net/url"
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

// line is what the receiver (examples/receivers/salesking.js, an independent implementation of
// SK::SDK::SignedRequest's decode and valid?) printed for one request.
type line struct {
	Valid       bool           `json:"valid"`
	Canonical   bool           `json:"canonical"`
	Method      string         `json:"method"`
	Path        string         `json:"path"`
	ContentType string         `json:"content_type"`
	Fields      []string       `json:"fields"`
	Data        map[string]any `json:"data"`
	Error       string         `json:"error"`
}

func parseLines(t *testing.T, raw []string) []line {
	t.Helper()
	out := make([]line, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			t.Fatalf("receiver line %q: %v", r, err)
		}
	}
	return out
}

// TestEndToEnd is the story. A company grants an app a token with the scope
// "clients:create invoices"; the app subscribes to client.create and invoice.delete through the
// compatible API and is refused client.update; events are published, and a receiver on loopback
// decodes and validates each signed_request the way SalesKing's SDK does, with its own code. Then
// the token is revoked: its subscriptions go, and later events are not delivered.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	// The receiver reads the app's secret from a file at each request, so it can tell its port
	// (which the app's URL names) before the app, and its secret, exist.
	secretFile := filepath.Join(t.TempDir(), "app-secret")
	if err := os.WriteFile(secretFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rc := receivers.Serve(t, "salesking.js", "--secret-file", secretFile)
	appURL := rc.URL + "/salesking"
	tn := node.NewTenant("acme", appURL)
	if err := os.WriteFile(secretFile, []byte(tn.AppSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	node.Admin.MustDo("PUT", "/compat/salesking/admin/companies/"+tn.AccountID, map[string]string{"sub_domain": "acme"}, http.StatusOK, nil)

	b := &bundle{node: node, tenant: tn, appURL: appURL, base: node.URL() + "/compat/salesking/api"}
	b.token, b.tokenID = b.grant(t, tn.AppID, "clients:create invoices")

	clients := b.subscribe(t, b.token, "client.create", appURL+"/clients")
	var invoices struct{ Sub sub }
	b.must(t, call{method: "POST", path: "/subs?access_token=" + url.QueryEscape(b.token), contentType: "application/x-www-form-urlencoded",
		body: url.Values{"sub[channel]": {"invoice.delete"}, "sub[callback_url]": {appURL + "/invoices"}}.Encode()}, http.StatusCreated, &invoices)
	refused := b.do(t, call{method: "POST", path: "/subs", contentType: "application/json", body: jsonSub("client.update", appURL+"/clients"), bearer: b.token})
	if refused.status != http.StatusForbidden || !strings.Contains(string(refused.body), "clients:update") {
		t.Fatalf("client.update: %d %s, want 403", refused.status, refused.body)
	}

	publish := func(typ, id string, data map[string]any, user string) engine.Published {
		t.Helper()
		body := map[string]any{"account_id": tn.AccountID, "type": typ, "entity": map[string]string{"type": strings.Split(typ, ".")[0], "id": id}, "data": data}
		if user != "" {
			body["user"] = map[string]string{"id": user}
		}
		var p engine.Published
		tn.App.MustDo("POST", "/v1/events", body, http.StatusAccepted, &p)
		return p
	}
	created := publish("client.create", "c1", map[string]any{"id": "c1", "organisation": "Müller & Söhne ✓", "number": "K-0001"}, "usr_7")
	deleted := publish("invoice.delete", "i1", map[string]any{"id": "i1", "number": "R-2026-001", "title": "Hosting +/= 2026"}, "")
	updated := publish("client.update", "c1", map[string]any{"id": "c1"}, "usr_7")
	if created.Deliveries != 1 || deleted.Deliveries != 1 || updated.Deliveries != 0 {
		t.Fatalf("deliveries: client.create %d, invoice.delete %d, client.update %d; want 1, 1, 0", created.Deliveries, deleted.Deliveries, updated.Deliveries)
	}

	got := parseLines(t, rc.WaitFor(t, 2, 20*time.Second))
	// Deliveries run concurrently: they are compared in the order of want, by path.
	slices.SortFunc(got, func(a, b line) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(got, func(a, b line) int { return strings.Compare(a.Path, b.Path) })
	want := []struct {
		path, channel, object string
		check                 func(obj map[string]any) bool
		user                  any
	}{
		{"/salesking/clients", "client.create", "client", func(o map[string]any) bool { return o["organisation"] == "Müller & Söhne ✓" }, "usr_7"},
		{"/salesking/invoices", "invoice.delete", "invoice", func(o map[string]any) bool { return o["title"] == "Hosting +/= 2026" }, nil},
	}
	for i, w := range want {
		l := got[i]
		if !l.Valid || !l.Canonical || l.Error != "" {
			t.Errorf("%s: not valid by the SDK's rules: %+v", w.path, l)
			continue
		}
		if l.Method != "POST" || l.Path != w.path || l.ContentType != "application/x-www-form-urlencoded" || !slices.Equal(l.Fields, []string{"signed_request"}) {
			t.Errorf("request %+v", l)
		}
		d := l.Data
		obj, _ := d[w.object].(map[string]any)
		if d["algorithm"] != "HMAC-SHA256" || d["channel"] != w.channel || d["company_id"] != tn.AccountID || d["sub_domain"] != "acme" ||
			d["user_id"] != w.user || obj == nil || !w.check(obj) {
			t.Errorf("%s: data %v", w.path, d)
		}
		if _, ok := d["issued_at"].(float64); !ok {
			t.Errorf("%s: issued_at %v", w.path, d["issued_at"])
		}
	}
	if got[0].Data["sub_id"] != clients.ID || got[1].Data["sub_id"] != invoices.Sub.ID {
		t.Errorf("sub ids %v %v, want %s %s", got[0].Data["sub_id"], got[1].Data["sub_id"], clients.ID, invoices.Sub.ID)
	}
	// The receiver does check: a signature made with another secret is refused.
	forged := url.Values{"signed_request": {"60673142fdda45f3185cbd51c070596950a9178e20f785703723ad8e0ff04833.eyJrZXkiOiJ2YWx1ZSJ9"}}.Encode()
	resp, err := http.Post(rc.URL+"/salesking/clients", "application/x-www-form-urlencoded", strings.NewReader(forged))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the receiver accepted a forged signed_request: %d", resp.StatusCode)
	}
	if l := parseLines(t, rc.WaitFor(t, 3, 10*time.Second))[2]; l.Valid {
		t.Fatalf("forged request judged valid: %+v", l)
	}
	for _, ev := range []string{created.ID, deleted.ID} {
		var l struct{ Data []struct{ ID, State string } }
		tn.App.MustDo("GET", "/v1/deliveries?event_id="+ev, nil, http.StatusOK, &l)
		if len(l.Data) != 1 {
			t.Fatalf("event %s: %d deliveries", ev, len(l.Data))
		}
		waitSucceeded(t, tn, l.Data[0].ID)
	}

	// A second token of the same app, whose subscription must outlive the first token's revocation.
	other, _ := b.grant(t, tn.AppID, "clients")
	survivor := b.subscribe(t, other, "client.create", appURL+"/survivor")

	var revoked struct {
		Removed []string `json:"removed_subscriptions"`
	}
	node.Admin.MustDo("DELETE", "/v1/credentials/"+b.tokenID, nil, http.StatusOK, &revoked)
	wantRemoved := []string{clients.ID, invoices.Sub.ID}
	slices.Sort(wantRemoved)
	if !slices.Equal(revoked.Removed, wantRemoved) {
		t.Errorf("revoking removed %v, want %v", revoked.Removed, wantRemoved)
	}
	for _, id := range wantRemoved {
		if _, status := b.native(t, id); status != http.StatusNotFound {
			t.Errorf("subscription %s still stored after revocation (%d)", id, status)
		}
	}
	if r := b.do(t, call{method: "GET", path: "/subs", bearer: b.token}); r.status != http.StatusUnauthorized {
		t.Errorf("the revoked token still lists: %d %s", r.status, r.body)
	}

	// Later events: nothing for the revoked token's channels is even queued, and the survivor's
	// delivery arriving shows that the pipeline still delivers.
	again := publish("client.create", "c2", map[string]any{"id": "c2"}, "")
	gone := publish("invoice.delete", "i2", map[string]any{"id": "i2"}, "")
	if again.Deliveries != 1 || gone.Deliveries != 0 {
		t.Fatalf("after revocation: client.create %d deliveries (the survivor's only), invoice.delete %d; want 1, 0", again.Deliveries, gone.Deliveries)
	}
	last := parseLines(t, rc.WaitFor(t, 4, 20*time.Second))[3]
	if !last.Valid || last.Path != "/salesking/survivor" || last.Data["sub_id"] != survivor.ID {
		t.Errorf("after revocation the receiver got %+v, want the survivor's notification", last)
	}
	var l struct {
		Data []struct {
			SubscriptionID string `json:"subscription_id"`
		}
	}
	tn.App.MustDo("GET", "/v1/deliveries?event_id="+again.ID, nil, http.StatusOK, &l)
	if len(l.Data) != 1 || l.Data[0].SubscriptionID != survivor.ID {
		t.Errorf("deliveries of the event after revocation: %+v", l.Data)
	}
}

// waitSucceeded waits until a delivery has succeeded: the receiver answered 200 to it.
func waitSucceeded(t *testing.T, tn *nodetest.Tenant, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got struct {
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		}
		tn.App.MustDo("GET", "/v1/deliveries/"+id, nil, http.StatusOK, &got)
		if got.State == string(engine.DeliverySucceeded) && got.Attempts == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s is %s after %d attempts, want succeeded after 1", id, got.State, got.Attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
