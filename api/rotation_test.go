package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/examples/receivers"
)

// verifyReceived has the standardwebhooks library verify a received request with secret, and
// returns the payload it verified.
func verifyReceived(t *testing.T, req *nodetest.Request, secret string) (string, error) {
	t.Helper()
	headers := map[string]string{}
	for k := range req.Header {
		headers[strings.ToLower(k)] = req.Header.Get(k)
	}
	file := filepath.Join(t.TempDir(), "request.json")
	saved, _ := json.Marshal(map[string]any{"headers": headers, "body": string(req.Body)})
	if err := os.WriteFile(file, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	return receivers.Run(t, "standard.js", "verify", "--secret", secret, file)
}

// verifies reports whether the standardwebhooks library accepts a received request with secret.
func verifies(t *testing.T, req *nodetest.Request, secret string) bool {
	t.Helper()
	_, err := verifyReceived(t, req, secret)
	return err == nil
}

// TestSecretRotationOverlap: after a rotation both secrets verify until the overlap ends, then
// only the new one.
func TestSecretRotationOverlap(t *testing.T) {
	t.Parallel()
	// The signature's timestamp must be within five minutes of the receiver's real clock, so
	// the test clock starts now.
	clock := enginetest.NewClock(time.Now())
	node := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("rotate", "")
	sub := subscribe(t, tn, rc.URL, nil)

	var rotated subscription
	tn.App.MustDo("POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", map[string]any{"overlap": "1h"}, http.StatusOK, &rotated)
	if rotated.Secret == "" || rotated.Secret == sub.Secret {
		t.Fatalf("rotation returned secret %q", rotated.Secret)
	}
	var shown map[string]any
	tn.App.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &shown)
	if strings.Contains(string(tn.App.Do("GET", "/v1/subscriptions/"+sub.ID, nil).Body), rotated.Secret[6:]) || shown["previous_secret_expires_at"] == nil {
		t.Fatalf("a read after rotation shows the secret, or no overlap: %v", shown)
	}

	publish(t, tn, nil)
	during := rc.WaitFor(t, 1, 10*time.Second)[0]
	if n := len(strings.Fields(during.Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during the overlap, want 2", n)
	}
	if !verifies(t, during, rotated.Secret) || !verifies(t, during, sub.Secret) {
		t.Fatal("during the overlap each secret alone must verify")
	}

	// Wait for the outcome to be recorded before moving time (see TestDeliverAtHoldsADelivery...).
	waitForDeliveries(t, tn, 1)
	clock.Advance(61 * time.Minute)
	publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": "43"}})
	after := rc.WaitFor(t, 2, 10*time.Second)[1]
	if n := len(strings.Fields(after.Header.Get("webhook-signature"))); n != 1 {
		t.Fatalf("%d signatures after the overlap, want 1", n)
	}
	if !verifies(t, after, rotated.Secret) || verifies(t, after, sub.Secret) {
		t.Fatal("after the overlap only the new secret may verify")
	}

	if r := tn.App.Do("POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", map[string]any{"overlap": "-1h"}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("negative overlap: %d %s", r.Status, r.Body)
	}
	other := node.NewTenant("other", "")
	if r := other.App.Do("POST", "/v1/subscriptions/"+sub.ID+"/rotate-secret", nil); r.Status != http.StatusNotFound {
		t.Errorf("another app rotating: %d %s", r.Status, r.Body)
	}
}

// waitForDeliveries waits until the tenant has n succeeded deliveries.
func waitForDeliveries(t *testing.T, tn *nodetest.Tenant, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var l listOf[delivery]
		tn.App.MustDo("GET", "/v1/deliveries?status=succeeded", nil, http.StatusOK, &l)
		if len(l.Data) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fewer than %d succeeded deliveries", n)
}
