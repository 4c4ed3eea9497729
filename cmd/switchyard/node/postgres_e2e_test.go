package node_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestNodeOnPostgres runs a whole node on a throwaway PostgreSQL database: a subscription in the
// Standard Webhooks format and one through the Altoviz-compatible API (a style with tables of its
// own), an event published, and both deliveries arrive signed as each format says; both are read
// back through the API.
func TestNodeOnPostgres(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) { c.Database = db }})
	rc := nodetest.NewReceiver(t)
	tn := n.NewTenant("pg", "")

	var sub struct{ ID, Secret string }
	tn.App.MustDo("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard",
		"events": []string{"client.*"}, "url": rc.URL + "/standard"}, http.StatusCreated, &sub)
	key := n.Credential(tn.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey, AccountID: tn.AccountID})
	altoviz := n.Client(key.Token)
	altoviz.Header = "x-api-key"
	altoviz.MustDo("POST", "/compat/altoviz/v1/webhooks", map[string]any{"name": "pg", "url": rc.URL + "/altoviz",
		"types": []string{"CustomerCreated"}, "secretKey": "altoviz-secret-key-0123456789"}, http.StatusCreated, nil)

	var published struct{ ID string }
	tn.App.MustDo("POST", "/v1/events", map[string]any{"account_id": tn.AccountID, "type": "client.create",
		"entity": map[string]string{"type": "client", "id": "7"}, "data": map[string]any{"id": 7}}, http.StatusAccepted, &published)

	reqs := rc.WaitFor(t, 2, 30*time.Second)
	for _, r := range reqs {
		switch {
		case strings.HasSuffix(r.Path, "/standard"):
			secret, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sub.Secret, "whsec_"))
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(r.Body)))
			if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); r.Header.Get("webhook-signature") != want {
				t.Errorf("standard: signature %q does not verify", r.Header.Get("webhook-signature"))
			}
		case strings.HasSuffix(r.Path, "/altoviz"):
			mac := hmac.New(sha256.New, []byte("altoviz-secret-key-0123456789"))
			mac.Write(r.Body)
			if got := r.Header.Get("X-SIGNATURE"); !hmac.Equal([]byte(got), []byte(hex.EncodeToString(mac.Sum(nil)))) {
				t.Errorf("altoviz: X-SIGNATURE %q does not verify", got)
			}
		default:
			t.Errorf("a request to %s", r.Path)
		}
	}
	var list struct {
		Data []struct {
			ID, State string
			Attempts  int
		}
	}
	tn.App.MustDo("GET", "/v1/deliveries?event_id="+published.ID, nil, http.StatusOK, &list)
	if len(list.Data) != 2 {
		t.Fatalf("the app's deliveries of the event: %+v, want two, one per subscription", list.Data)
	}
}
