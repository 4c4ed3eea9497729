package api_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// TestConsolePluginsAndGrants drives the operator's view in Chromium: it uploads a plugin module
// from a file (sandboxed, as the form's default), which the plugins table then lists and the API
// has; it grants one account's events to another tenant's app and then revokes the grant, the
// confirmation accepted, and the API sees each.
func TestConsolePluginsAndGrants(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	owner, grantee := n.NewTenant("console-owner", ""), n.NewTenant("console-grantee", "")
	wasm := filepath.Join(t.TempDir(), "versioned.wasm")
	if err := os.WriteFile(wasm, runtimetest.Build(t, "testdata/versioned/v1"), 0o600); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	op := b.signInAsOperator(n)
	b.run(op, chromedp.Navigate(n.URL()+"/console/#/operator"))

	// Upload: the form takes a name and a file.
	upload := `form:has(input[type=file])`
	b.run(op, chromedp.WaitVisible(chromedp.CSS(upload+` input[name=name]`)),
		chromedp.SendKeys(chromedp.CSS(upload+` input[name=name]`), "versioned"),
		chromedp.SetUploadFiles(chromedp.CSS(upload+` input[type=file]`), []string{wasm}),
		chromedp.Click(chromedp.CSS(upload+` button[type=submit]`)))
	// The upload answers once the sandbox has compiled the module: under the race detector, beside
	// the package's other tests on two cores, that took more than the 20 s a page step gets.
	b.waitTextWithin(op, `#status`, "Uploaded versioned.", 2*time.Minute)
	if row := b.text(op, `tr[data-plugin="versioned"]`); !strings.Contains(row, "sandboxed") || !strings.Contains(row, "1.0.0") {
		t.Errorf("the plugins table lists the upload as %q, want version 1.0.0, sandboxed", row)
	}
	var info struct {
		Name, Version, Mode string
	}
	n.Admin.MustDo("GET", "/v1/plugins/versioned", nil, http.StatusOK, &info)
	if info.Version != "1.0.0" || info.Mode != "sandboxed" {
		t.Errorf("the API has the upload as %+v", info)
	}

	// Grant the owner's client events to the grantee's app, then revoke it.
	account := `tr[data-account="` + owner.AccountID + `"]`
	b.run(op, chromedp.Click(chromedp.CSS(account+` button`)))
	b.waitText(op, `h3`, "Grants of")
	b.run(op, chromedp.SendKeys(chromedp.CSS(`form:has(input[name=app_id]) input[name=app_id]`), grantee.AppID),
		chromedp.SetValue(chromedp.CSS(`form:has(input[name=app_id]) input[name=events]`), "client.*"),
		chromedp.Click(chromedp.CSS(`form:has(input[name=app_id]) button[type=submit]`)))
	b.waitText(op, `#status`, "Granted.")
	var grants listOf[struct {
		ID        string   `json:"id"`
		AppID     string   `json:"app_id"`
		Events    []string `json:"events"`
		RevokedAt *string  `json:"revoked_at"`
	}]
	n.Admin.MustDo("GET", "/v1/accounts/"+owner.AccountID+"/grants", nil, http.StatusOK, &grants)
	var granted string
	for _, g := range grants.Data {
		if g.AppID == grantee.AppID && len(g.Events) == 1 && g.Events[0] == "client.*" && g.RevokedAt == nil {
			granted = g.ID
		}
	}
	if granted == "" {
		t.Fatalf("no live grant of client.* to the grantee's app after the form: %+v", grants.Data)
	}
	row := `tr[data-grant="` + granted + `"]`
	b.text(op, row)
	// The page asks for confirmation; the test answers yes.
	if _, err := chromedp.Run(op, chromedp.Evaluate[bool](`window.confirm = () => true, true`)); err != nil {
		t.Fatal(err)
	}
	b.run(op, chromedp.Click(chromedp.CSS(row+` button`)))
	b.waitText(op, `#status`, "Revoked")
	b.waitText(op, row, "revoked")
	n.Admin.MustDo("GET", "/v1/accounts/"+owner.AccountID+"/grants", nil, http.StatusOK, &grants)
	for _, g := range grants.Data {
		if g.ID == granted && g.RevokedAt == nil {
			t.Errorf("the grant revoked on the page is live in the API")
		}
	}
}
