package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/enginetest"
)

type portalLink struct {
	AppID     string    `json:"app_id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

type portalSession struct {
	Token   string `json:"token"`
	AppID   string `json:"app_id"`
	AppName string `json:"app_name"`
}

// portalCode is the code a portal link carries in its fragment.
func portalCode(t *testing.T, n *nodetest.Node, link portalLink) string {
	t.Helper()
	code, ok := strings.CutPrefix(link.URL, n.URL()+"/console/#portal=")
	if !ok || code == "" {
		t.Fatalf("portal link %q is not the console with a code in its fragment", link.URL)
	}
	return code
}

// TestPortalSessions: the operator makes a link for one app; the link is traded once for a token
// that sees that app's deliveries and nothing of another app's or the operator's; a second trade,
// a late one and a made-up code are refused with a JSON error that says why; the session ends.
func TestPortalSessions(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	n := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	mine, theirs := n.NewTenant("portal-mine", ""), n.NewTenant("portal-theirs", "")
	subscribe(t, mine, rc.URL, nil)
	subscribe(t, theirs, rc.URL, nil)
	myDelivery := deliveryOf(t, mine, publish(t, mine, nil).ID, "succeeded")
	theirDelivery := deliveryOf(t, theirs, publish(t, theirs, nil).ID, "succeeded")

	var link portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusCreated, &link)
	if link.AppID != mine.AppID || !link.ExpiresAt.Equal(clock.Now().Add(10*time.Minute)) {
		t.Errorf("link %+v", link)
	}
	code := portalCode(t, n, link)
	if r := mine.App.Do("POST", "/v1/apps/"+mine.AppID+"/portal-sessions", nil); r.Status != http.StatusForbidden {
		t.Errorf("an app made itself a portal link: %d %s", r.Status, r.Body)
	}
	if r := n.Admin.Do("POST", "/v1/apps/app_missing/portal-sessions", nil); r.Status != http.StatusNotFound {
		t.Errorf("a link for no app: %d %s", r.Status, r.Body)
	}

	anyone := n.Client("")
	var sess portalSession
	anyone.MustDo("POST", "/v1/portal/exchange", map[string]string{"code": code}, http.StatusOK, &sess)
	if sess.AppID != mine.AppID || sess.AppName != "portal-mine app" || !strings.HasPrefix(sess.Token, "pss_") {
		t.Errorf("session %+v", sess)
	}
	portal := n.Client(sess.Token)
	var l listOf[delivery]
	portal.MustDo("GET", "/v1/deliveries", nil, http.StatusOK, &l)
	if len(l.Data) != 1 || l.Data[0].ID != myDelivery.ID {
		t.Errorf("the portal session sees %+v, want only %s", l.Data, myDelivery.ID)
	}
	portal.MustDo("GET", "/v1/deliveries/"+myDelivery.ID, nil, http.StatusOK, nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/deliveries/" + theirDelivery.ID},
		{"POST", "/v1/deliveries/" + theirDelivery.ID + "/retry"},
		{"GET", "/v1/accounts"},
		{"GET", "/v1/apps"},
		{"POST", "/v1/apps/" + theirs.AppID + "/portal-sessions"},
	} {
		if r := portal.Do(c.method, c.path, nil); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
			t.Errorf("the portal session reached %s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	ev := map[string]any{"account_id": mine.AccountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "1"}, "data": map[string]any{}}
	if r := portal.Do("POST", "/v1/events", ev); r.Status != http.StatusForbidden {
		t.Errorf("the portal session published: %d %s", r.Status, r.Body)
	}

	refused := func(code, want string) {
		t.Helper()
		r := anyone.Do("POST", "/v1/portal/exchange", map[string]string{"code": code})
		if r.Status != http.StatusUnauthorized || r.ErrorCode() != "unauthorized" || !strings.Contains(string(r.Body), want) {
			t.Errorf("exchanging %q: %d %s, want 401 saying %q", code, r.Status, r.Body, want)
		}
	}
	refused(code, "used already")
	refused("psl_nothing.here", "not valid")
	refused(sess.Token, "not valid")
	if r := anyone.Do("POST", "/v1/portal/exchange", map[string]string{"code": ""}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("an empty code: %d %s", r.Status, r.Body)
	}

	var late portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusCreated, &late)
	advance(t, clock, 10*time.Minute)
	refused(portalCode(t, n, late), "expired")
	portal.MustDo("GET", "/v1/deliveries", nil, http.StatusOK, nil)
	advance(t, clock, 51*time.Minute)
	if r := portal.Do("GET", "/v1/deliveries", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("a session past its hour: %d %s", r.Status, r.Body)
	}

	logs := n.Logs.String()
	for _, secret := range []string{code, portalCode(t, n, late), sess.Token} {
		_, s, _ := strings.Cut(secret, ".")
		if strings.Contains(logs, s) {
			t.Errorf("the log shows a portal secret")
		}
	}
}
