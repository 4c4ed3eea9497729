package api_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk/signing"
)

// keythief uploads the plugin of testdata/keythief, sandboxed, as the operator would.
func keythief(t *testing.T, n *nodetest.Node) {
	t.Helper()
	n.Admin.MustDo("PUT", "/v1/plugins/keythief", runtimetest.Build(t, "testdata/keythief"), http.StatusCreated, nil)
}

// grantServerKey is the operator starting the node with --plugin-key-grants keythief=server.
func grantServerKey(c *node.Config) {
	roomy(c)
	c.PluginKeyGrants = map[string][]string{"keythief": {"server"}}
}

// settledOf waits until the only delivery of sub reaches want, and returns it.
func settledOf(t *testing.T, tn *nodetest.Tenant, subID, want string) delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var l listOf[delivery]
		tn.App.MustDo("GET", "/v1/deliveries?subscription_id="+subID, nil, http.StatusOK, &l)
		if len(l.Data) == 1 && l.Data[0].State == want {
			var d delivery
			tn.App.MustDo("GET", "/v1/deliveries/"+l.Data[0].ID, nil, http.StatusOK, &d)
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription %s: deliveries %+v, want one %s", subID, l.Data, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerKeyNeedsTheOperatorsGrant (issue 15, finding 4): an uploaded plugin that asks the host
// to sign with the server's key, which iVvy receivers trust, is refused unless the operator granted
// that plugin the key by name; the attempt fails saying so, and nothing is sent. Granted, the same
// module signs, and the signature verifies with the server's certificate.
func TestServerKeyNeedsTheOperatorsGrant(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	n := nodetest.Start(t, nodetest.Options{DataDir: dataDir, Configure: roomy})
	keythief(t, n)
	rc := nodetest.NewReceiver(t)
	tn := n.NewTenant("thief", "")
	sub := subscribe(t, tn, rc.URL+"/sns", map[string]any{"format": "keythief", "events": []string{"*"},
		"options": map[string]string{"key": "server", "alg": "rsa-sha256"}})
	publish(t, tn, nil)
	d := settledOf(t, tn, sub.ID, "failed")
	if len(d.AttemptLog) != 1 || !strings.Contains(d.AttemptLog[0].Error, "server key") ||
		!strings.Contains(d.AttemptLog[0].Error, "--plugin-key-grants keythief=server") {
		t.Fatalf("attempts %+v, want one that says the server key is not granted and how to grant it", d.AttemptLog)
	}
	if got := rc.Requests(); len(got) != 0 {
		t.Fatalf("the receiver got %d requests from a plugin refused the server key", len(got))
	}
	var info struct {
		KeyGrants []string `json:"key_grants"`
	}
	n.Admin.MustDo("GET", "/v1/plugins/keythief", nil, http.StatusOK, &info)
	if len(info.KeyGrants) != 0 {
		t.Fatalf("an ungranted plugin lists grants %v", info.KeyGrants)
	}
	if err := n.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}

	// The operator grants it by name; the same stored module now signs.
	n = nodetest.Start(t, nodetest.Options{DataDir: dataDir, Configure: grantServerKey})
	tn.App.Base = n.URL()
	n.Admin.MustDo("GET", "/v1/plugins/keythief", nil, http.StatusOK, &info)
	if len(info.KeyGrants) != 1 || info.KeyGrants[0] != "server" {
		t.Fatalf("a granted plugin lists grants %v", info.KeyGrants)
	}
	ev := publish(t, tn, map[string]any{"data": map[string]any{"forged": "sns"}})
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	sig, err := base64.StdEncoding.DecodeString(got.Header.Get("x-signature"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(got.Body)
	if err := rsa.VerifyPKCS1v15(&n.ServerKey.Key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("the granted plugin's signature does not verify with the server key: %v", err)
	}
	deliveryOf(t, tn, ev.ID, "succeeded")
}

// TestSignedRequestsGoOnlyToTheirSubscription (issue 15, findings 4 and 5): a plugin that signs
// with any key made for a subscription, or has a secret written in, and aims the request elsewhere
// is refused, and nothing is sent: not to the other receiver, not to the subscriber. Elsewhere
// includes a path that climbs out of the subscription's URL once percent-decoded. The same request
// signed within the subscription's URL, or unsigned elsewhere, is sent, so the other receiver is
// one that would have been reached.
func TestSignedRequestsGoOnlyToTheirSubscription(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Configure: grantServerKey})
	keythief(t, n)
	mine, other := nodetest.NewReceiver(t), nodetest.NewReceiver(t)
	tn := n.NewTenant("thief", "")
	refused := map[string]map[string]string{
		"subscription key elsewhere": {"key": "subscription", "to": other.URL + "/stolen"},
		"app key elsewhere":          {"key": "app", "to": other.URL + "/stolen"},
		"server key elsewhere":       {"key": "server", "alg": "rsa-sha256", "to": other.URL + "/stolen"},
		"secret elsewhere":           {"embed": "subscription", "to": other.URL + "/stolen"},
		"app secret elsewhere":       {"embed": "app", "to": other.URL + "/stolen"},
		"encoded dots, secret":       {"embed": "subscription", "to": mine.URL + "/hooks/in/%2e%2e/%2e%2e/stolen"},
		"encoded dots, signature":    {"key": "subscription", "to": mine.URL + "/hooks/in/%2E%2E/stolen"},
		"encoded dots in the path":   {"key": "app", "path": "/%2e%2e/%2e%2e/stolen"},
		"encoded slash":              {"embed": "subscription", "to": mine.URL + "/hooks/in/a%2f..%2f..%2fstolen"},
		"encoded backslash":          {"key": "subscription", "to": mine.URL + "/hooks/in/%5c..%5c..%5cstolen"},
		"dots in the path":           {"embed": "app", "path": "/../stolen"},
	}
	subs := map[string]string{}
	for name, opts := range refused {
		s := subscribe(t, tn, mine.URL+"/hooks/in", map[string]any{"format": "keythief", "events": []string{"*"}, "options": opts})
		subs[name] = s.ID
	}
	sent := map[string]map[string]string{
		"signed, deeper within": {"key": "subscription", "to": mine.URL + "/hooks/in/deeper"},
		"secret, own path":      {"embed": "app", "path": "/more"},
		"unsigned elsewhere":    {"to": other.URL + "/unsigned"},
	}
	sentSubs := map[string]subscription{}
	for name, opts := range sent {
		sentSubs[name] = subscribe(t, tn, mine.URL+"/hooks/in", map[string]any{"format": "keythief", "events": []string{"*"}, "options": opts})
	}
	publish(t, tn, nil)

	for name, id := range subs {
		d := settledOf(t, tn, id, "failed")
		if len(d.AttemptLog) != 1 || !strings.Contains(d.AttemptLog[0].Error, "outside the subscription's URL") {
			t.Errorf("%s: attempts %+v, want one refused for leaving the subscription's URL", name, d.AttemptLog)
		}
	}
	for _, s := range sentSubs {
		settledOf(t, tn, s.ID, "succeeded")
	}
	// Every delivery has settled: whatever was going to arrive has.
	if got := other.Requests(); len(got) != 1 || got[0].Path != "/unsigned" || got[0].Header.Get("x-signature") != "" {
		for _, r := range got {
			t.Errorf("the other receiver got %s %v", r.Path, r.Header)
		}
		t.Fatalf("the other receiver got %d requests, want only the unsigned one", len(got))
	}
	paths := map[string]*nodetest.Request{}
	for _, r := range mine.Requests() {
		paths[r.Path] = r
	}
	if len(paths) != 2 || paths["/hooks/in/deeper"] == nil || paths["/hooks/in/more"] == nil {
		t.Fatalf("the subscriber got %v, want only /hooks/in/deeper and /hooks/in/more", paths)
	}
	if got := paths["/hooks/in/more"].Header.Get("x-embedded"); got != tn.AppSecret {
		t.Errorf("the app secret within the subscription's URL arrived as %q", got)
	}
	deeper, secret := paths["/hooks/in/deeper"], sentSubs["signed, deeper within"].Secret
	if want := base64.StdEncoding.EncodeToString(signing.HMACSHA256(signing.HMACKey(secret), deeper.Body)); secret == "" ||
		!hmac.Equal([]byte(deeper.Header.Get("x-signature")), []byte(want)) {
		t.Errorf("the signature within the subscription's URL does not verify")
	}
}
