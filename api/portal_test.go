package api_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/auth"
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
	// The hourly maintenance job (purge-attempts, due at 13:00) deletes what expired: the late
	// link is then unknown rather than expired.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := anyone.Do("POST", "/v1/portal/exchange", map[string]string{"code": portalCode(t, n, late)})
		if strings.Contains(string(r.Body), "not valid") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an hour on, the expired link was not purged: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	logs := n.Logs.String()
	for _, secret := range []string{code, portalCode(t, n, late), sess.Token} {
		_, s, _ := strings.Cut(secret, ".")
		if strings.Contains(logs, s) {
			t.Errorf("the log shows a portal secret")
		}
	}
}

// newPortalSession makes a link for app as the operator and trades it.
func newPortalSession(t *testing.T, n *nodetest.Node, appID string) (code string, sess portalSession) {
	t.Helper()
	var link portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+appID+"/portal-sessions", nil, http.StatusCreated, &link)
	code = portalCode(t, n, link)
	n.Client("").MustDo("POST", "/v1/portal/exchange", map[string]string{"code": code}, http.StatusOK, &sess)
	return code, sess
}

// TestPortalRevoke: DELETE /v1/apps/{id}/portal-sessions ends the app's sessions and unused links
// at the very next request, and leaves another app's; only the operator may, and only for an app
// that exists.
func TestPortalRevoke(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	mine, theirs := n.NewTenant("revoke-mine", ""), n.NewTenant("revoke-theirs", "")
	_, sess := newPortalSession(t, n, mine.AppID)
	var unused portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusCreated, &unused)
	_, other := newPortalSession(t, n, theirs.AppID)
	n.Client(sess.Token).MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)

	if r := mine.App.Do("DELETE", "/v1/apps/"+mine.AppID+"/portal-sessions", nil); r.Status != http.StatusForbidden {
		t.Errorf("an app revoked its portal sessions: %d %s", r.Status, r.Body)
	}
	if r := n.Client(sess.Token).Do("DELETE", "/v1/apps/"+mine.AppID+"/portal-sessions", nil); r.Status != http.StatusForbidden {
		t.Errorf("a portal session revoked its app's portal sessions: %d %s", r.Status, r.Body)
	}
	if r := n.Admin.Do("DELETE", "/v1/apps/app_missing/portal-sessions", nil); r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" {
		t.Errorf("revoking the portal sessions of no app: %d %s", r.Status, r.Body)
	}
	var revoked struct {
		AppID string `json:"app_id"`
		Ended int64  `json:"ended"`
	}
	n.Admin.MustDo("DELETE", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusOK, &revoked)
	// The traded link, its session and the unused link.
	if revoked.AppID != mine.AppID || revoked.Ended != 3 {
		t.Errorf("revoked %+v, want app %s and 3 ended", revoked, mine.AppID)
	}
	if r := n.Client(sess.Token).Do("GET", "/v1/subscriptions", nil); r.Status != http.StatusUnauthorized || r.ErrorCode() != "unauthorized" {
		t.Errorf("a revoked portal session: %d %s", r.Status, r.Body)
	}
	if r := n.Client("").Do("POST", "/v1/portal/exchange", map[string]string{"code": portalCode(t, n, unused)}); r.Status != http.StatusUnauthorized {
		t.Errorf("a revoked unused link: %d %s", r.Status, r.Body)
	}
	n.Client(other.Token).MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	n.Admin.MustDo("DELETE", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusOK, &revoked)
	if revoked.Ended != 0 {
		t.Errorf("revoking again ended %d", revoked.Ended)
	}
	// The app can be given a portal again.
	_, again := newPortalSession(t, n, mine.AppID)
	n.Client(again.Token).MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
}

// TestPortalBoundPerApp: an app has at most auth.MaxPortalPerApp live links, and as many live
// sessions; making one more ends the oldest (not refused: a platform may make a link on every
// page view), and another app's are not counted.
func TestPortalBoundPerApp(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	mine, theirs := n.NewTenant("bound-mine", ""), n.NewTenant("bound-theirs", "")
	_, theirSession := newPortalSession(t, n, theirs.AppID)
	var theirLink portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+theirs.AppID+"/portal-sessions", nil, http.StatusCreated, &theirLink)

	codes := make([]string, auth.MaxPortalPerApp+1)
	for i := range codes {
		var link portalLink
		n.Admin.MustDo("POST", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusCreated, &link)
		codes[i] = portalCode(t, n, link)
	}
	anyone := n.Client("")
	if r := anyone.Do("POST", "/v1/portal/exchange", map[string]string{"code": codes[0]}); r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "not valid") {
		t.Errorf("the oldest of %d links: %d %s, want it ended", len(codes), r.Status, r.Body)
	}
	tokens := make([]string, 0, auth.MaxPortalPerApp+1)
	for _, code := range codes[1:] {
		var sess portalSession
		anyone.MustDo("POST", "/v1/portal/exchange", map[string]string{"code": code}, http.StatusOK, &sess)
		tokens = append(tokens, sess.Token)
	}
	// MaxPortalPerApp sessions now, the most allowed: all work.
	n.Client(tokens[0]).MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	_, newest := newPortalSession(t, n, mine.AppID)
	if r := n.Client(tokens[0]).Do("GET", "/v1/subscriptions", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the oldest of %d sessions: %d %s, want it ended", auth.MaxPortalPerApp+1, r.Status, r.Body)
	}
	for _, token := range []string{tokens[1], newest.Token, theirSession.Token} {
		n.Client(token).MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	}
	anyone.MustDo("POST", "/v1/portal/exchange", map[string]string{"code": portalCode(t, n, theirLink)}, http.StatusOK, nil)
}

// TestPortalSurvivesRestart: a link made before a restart is traded after it, and a session made
// before one still works; the database files hold their IDs but not their secrets.
func TestPortalSurvivesRestart(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	n := nodetest.Start(t, nodetest.Options{DataDir: dataDir})
	tn := n.NewTenant("restart", "")
	_, sess := newPortalSession(t, n, tn.AppID)
	var link portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+tn.AppID+"/portal-sessions", nil, http.StatusCreated, &link)
	code := portalCode(t, n, link)
	if err := n.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The database holds each one's ID and only a digest of its secret.
	var stored []byte
	files, _ := filepath.Glob(filepath.Join(dataDir, "switchyard.db*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, b...)
	}
	for _, secret := range []string{code, sess.Token} {
		id, s, _ := strings.Cut(secret, ".")
		if !bytes.Contains(stored, []byte(id)) {
			t.Errorf("the database files (%v) do not hold portal entry %s", files, id)
		}
		if bytes.Contains(stored, []byte(s)) {
			t.Errorf("the database files hold the secret of portal entry %s", id)
		}
	}

	n = nodetest.Start(t, nodetest.Options{DataDir: dataDir})
	n.Client(sess.Token).MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
	var after portalSession
	n.Client("").MustDo("POST", "/v1/portal/exchange", map[string]string{"code": code}, http.StatusOK, &after)
	if after.AppID != tn.AppID {
		t.Errorf("after the restart, the link opened app %s, want %s", after.AppID, tn.AppID)
	}
	n.Client(after.Token).MustDo("GET", "/v1/subscriptions", nil, http.StatusOK, nil)
}
