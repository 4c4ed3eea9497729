package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// TestListCredentials: the operator lists an app's credentials, revoked ones marked, without any
// secret; another app's are not in it; an unknown app is 404 and an app may not list.
func TestListCredentials(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	tn, other := n.NewTenant("creds", ""), n.NewTenant("creds-other", "")
	key := n.Credential(tn.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey})
	client := n.Credential(tn.AppID, engine.NewCredential{Kind: engine.CredentialClient})
	n.Admin.MustDo("DELETE", "/v1/credentials/"+key.ID, nil, http.StatusOK, nil)

	var l listOf[engine.Credential]
	resp := n.Admin.MustDo("GET", "/v1/apps/"+tn.AppID+"/credentials", nil, http.StatusOK, &l)
	got := map[string]engine.Credential{}
	for _, c := range l.Data {
		got[c.ID] = c
	}
	// NewTenant issued the app a publishing key too.
	if len(l.Data) != 3 || got[key.ID].RevokedAt == nil || got[client.ID].RevokedAt != nil || got[client.ID].ClientID != client.ClientID {
		t.Errorf("the app's credentials: %+v", l.Data)
	}
	for _, secret := range []string{key.Token, client.ClientSecret, tn.Token, other.Token} {
		if secret != "" && strings.Contains(string(resp.Body), secret) {
			t.Errorf("the list shows a secret: %s", resp.Body)
		}
	}
	var page listOf[engine.Credential]
	n.Admin.MustDo("GET", "/v1/apps/"+tn.AppID+"/credentials?limit=2", nil, http.StatusOK, &page)
	if len(page.Data) != 2 || page.Next == "" {
		t.Errorf("a page of 2: %+v", page)
	}
	n.Admin.MustDo("GET", "/v1/apps/app_missing/credentials", nil, http.StatusNotFound, nil)
	tn.App.MustDo("GET", "/v1/apps/"+tn.AppID+"/credentials", nil, http.StatusForbidden, nil)
}
