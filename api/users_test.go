package api_test

import (
	"net/http"
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
