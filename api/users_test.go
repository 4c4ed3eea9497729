package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestAccountUsersAPI: the operator tells Switchyard an account's users and their permissions;
// bad input is refused naming the field and stores nothing; apps cannot call it.
func TestAccountUsersAPI(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	tn := node.NewTenant("users", "https://app.example")
	base := "/v1/accounts/" + tn.AccountID + "/users/"
	type user struct {
		AccountID   string   `json:"account_id"`
		ID          string   `json:"id"`
		Permissions []string `json:"permissions"`
	}
	var u user
	node.Admin.MustDo("PUT", base+"7", map[string]any{"permissions": []string{"invoices:delete", "clients:read", "invoices:delete"}}, http.StatusCreated, &u)
	if u.AccountID != tn.AccountID || u.ID != "7" || len(u.Permissions) != 2 {
		t.Errorf("created %+v", u)
	}
	node.Admin.MustDo("PUT", base+"7", map[string]any{"permissions": []string{"clients:read"}}, http.StatusOK, &u)
	node.Admin.MustDo("GET", base+"7", nil, http.StatusOK, &u)
	if len(u.Permissions) != 1 || u.Permissions[0] != "clients:read" {
		t.Errorf("replaced %+v", u)
	}
	for _, bad := range []any{
		map[string]any{},
		map[string]any{"permissions": "invoices:delete"},
		map[string]any{"permissions": []string{"has space"}},
		map[string]any{"permissions": []any{1}},
	} {
		node.Admin.MustDo("PUT", base+"8", bad, http.StatusUnprocessableEntity, nil)
	}
	node.Admin.MustDo("PUT", base+"bad%20id", map[string]any{"permissions": []string{}}, http.StatusUnprocessableEntity, nil)
	node.Admin.MustDo("PUT", "/v1/accounts/acc_missing/users/1", map[string]any{"permissions": []string{}}, http.StatusNotFound, nil)
	node.Admin.MustDo("GET", base+"8", nil, http.StatusNotFound, nil)
	tn.App.MustDo("PUT", base+"9", map[string]any{"permissions": []string{}}, http.StatusForbidden, nil)
	tn.App.MustDo("GET", "/v1/accounts/"+tn.AccountID+"/users", nil, http.StatusForbidden, nil)

	var l struct{ Data []user }
	node.Admin.MustDo("GET", "/v1/accounts/"+tn.AccountID+"/users", nil, http.StatusOK, &l)
	if len(l.Data) != 1 || l.Data[0].ID != "7" {
		t.Errorf("list %+v", l.Data)
	}
	node.Admin.MustDo("DELETE", base+"7", nil, http.StatusNoContent, nil)
	node.Admin.MustDo("DELETE", base+"7", nil, http.StatusNotFound, nil)
}

// TestAccessTokenUser: an access token records the user of its account who granted it; the user
// must be one the platform recorded on that account, and only access tokens name one.
func TestAccessTokenUser(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	tn := node.NewTenant("granting", "https://app.example")
	other := node.NewTenant("other", "https://other.example")
	node.Admin.MustDo("PUT", "/v1/accounts/"+tn.AccountID+"/users/u-1", map[string]any{"permissions": []string{}}, http.StatusCreated, nil)
	node.Admin.MustDo("PUT", "/v1/accounts/"+other.AccountID+"/users/u-2", map[string]any{"permissions": []string{}}, http.StatusCreated, nil)
	path := "/v1/apps/" + tn.AppID + "/credentials"

	var issued struct {
		ID     string `json:"id"`
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}
	node.Admin.MustDo("POST", path, map[string]any{"kind": "access_token", "account_id": tn.AccountID, "user_id": "u-1"}, http.StatusCreated, &issued)
	if issued.UserID != "u-1" || issued.Token == "" {
		t.Errorf("issued %+v; want user_id u-1 and a token", issued)
	}
	for name, bad := range map[string]map[string]any{
		"a user never recorded":       {"kind": "access_token", "account_id": tn.AccountID, "user_id": "u-9"},
		"another account's user":      {"kind": "access_token", "account_id": tn.AccountID, "user_id": "u-2"},
		"an API key naming a user":    {"kind": "api_key", "account_id": tn.AccountID, "user_id": "u-1"},
		"a user_id that is no string": {"kind": "access_token", "account_id": tn.AccountID, "user_id": 1},
	} {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		r := node.Admin.Do("POST", path, bad)
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s; want 422", name, r.Status, r.Body)
			continue
		}
		if err := json.Unmarshal(r.Body, &e); err != nil || !strings.HasPrefix(e.Error.Message, "user_id: ") {
			t.Errorf("%s: error %s; want it to name user_id", name, r.Body)
		}
	}
}
