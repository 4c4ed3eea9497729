package host

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/plugins/salesking"
)

func TestScopesAllowChannels(t *testing.T) {
	t.Parallel()
	set := channelsOf(salesking.Plugin.CompleteManifest())
	for _, tc := range []struct {
		scope   string
		channel string
		want    bool
	}{
		{"clients:create", "client.create", true},
		{"clients:create", "client.update", false},
		{"clients", "client.update", true},
		{"clients", "client.delete", true},
		{"clients", "contact.create", false},
		{"clients:create,update", "client.update", true},
		{"clients:create,update", "client.delete", false},
		{"invoices", "invoice.delete", true},
		{"Invoices:Delete", "invoice.delete", true},
		// API scopes grant API access, not notifications.
		{"api/clients", "client.create", false},
		{"api/clients:create,update", "client.create", false},
		// Singular names are channels' objects, not scopes.
		{"client", "client.create", false},
		{"client:create", "client.create", false},
		{"credit_notes:update", "credit_note.update", true},
		{"recurrings", "recurring.delete", true},
		{"clients:read", "client.create", false},
		{"", "client.create", false},
	} {
		ch, ok := set.byName[tc.channel]
		if !ok {
			t.Fatalf("no channel %s", tc.channel)
		}
		if got := allows(strings.Fields(tc.scope), ch); got != tc.want {
			t.Errorf("scope %q, channel %s: %v, want %v", tc.scope, tc.channel, got, tc.want)
		}
	}
	// The example: a whole scope string, split on spaces as the engine stores it.
	scopes := strings.Fields("clients:create api/clients:create,update")
	if !allows(scopes, set.byName["client.create"]) || allows(scopes, set.byName["client.update"]) {
		t.Error("clients:create api/clients:create,update must allow client.create only")
	}
}

func TestScopeRefusalNamesTheScopeNeeded(t *testing.T) {
	t.Parallel()
	set := channelsOf(salesking.Plugin.CompleteManifest())
	msg := scopeRefusal([]string{"clients:create", "invoices"}, set.byName["client.update"]).Error()
	for _, want := range []string{"client.update", "clients:update", `"clients:create invoices"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not mention %s", msg, want)
		}
	}
}

func TestCallbackWithinTheAppURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		app, callback string
		// want is "" when the callback is within, else a part of the reason.
		want string
	}{
		{"https://app.example.com", "https://app.example.com/hooks/sk", ""},
		{"https://app.example.com/", "https://app.example.com", ""},
		{"https://app.example.com/hooks", "https://app.example.com/hooks", ""},
		{"https://app.example.com/hooks", "https://app.example.com/hooks/", ""},
		{"https://app.example.com/hooks/", "https://app.example.com/hooks/in?x=1", ""},
		{"https://app.example.com/hooks", "https://APP.example.com:443/hooks/in", ""},
		{"http://127.0.0.1:8080/base", "http://127.0.0.1:8080/base/cb", ""},
		{"https://app.example.com/hooks", "https://app.example.com/hooksevil", "the path is /hooksevil"},
		{"https://app.example.com/hooks", "https://app.example.com/", "the path is /"},
		{"https://app.example.com/hooks", "https://app.example.com/other/hooks", "the path is /other/hooks"},
		{"https://app.example.com/hooks", "https://app.example.com/hooks/../admin", `a ".." segment`},
		{"https://app.example.com/hooks", "https://app.example.com/hooks/%2e%2e/admin", `a ".." segment`},
		{"https://app.example.com/a/b", "https://app.example.com/a%2Fb/c", "the path is /a%2Fb/c"},
		{"https://app.example.com", "http://app.example.com/hooks", "the scheme is http, not https"},
		{"https://app.example.com", "https://evil.example.com/hooks", "the host is evil.example.com"},
		// A string prefix is not a host: app.example.com.evil.net shares its first characters.
		{"https://app.example.com", "https://app.example.com.evil.net/hooks", "the host is app.example.com.evil.net"},
		{"https://app.example.com", "https://app.example.com@evil.net/hooks", "user name or password"},
		{"https://app.example.com", "https://app.example.com:8443/hooks", "the port is 8443, not 443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081/cb", "the port is 8081, not 8080"},
		{"https://app.example.com", "/hooks", "absolute http or https URL"},
		{"", "https://app.example.com/hooks", "this app has none"},
	} {
		err := checkWithinApp(tc.app, tc.callback)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s within %s: refused: %v", tc.callback, tc.app, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s within %s: %v, want a refusal saying %q", tc.callback, tc.app, err, tc.want)
		case tc.want != "" && tc.app != "" && !strings.Contains(err.Error(), "must lie within the app's URL "+tc.app) && !strings.Contains(err.Error(), "absolute"):
			t.Errorf("%s within %s: %q does not name the rule", tc.callback, tc.app, err)
		}
	}
}

// TestPermissionsAllowChannels: a user's permissions read as notification scopes do, with the
// document's own example first: a user who cannot delete invoices.
func TestPermissionsAllowChannels(t *testing.T) {
	t.Parallel()
	set := channelsOf(salesking.Plugin.CompleteManifest())
	for _, tc := range []struct {
		permissions []string
		channel     string
		want        bool
	}{
		{[]string{"invoices:delete"}, "invoice.delete", true},
		{[]string{"invoices:create", "invoices:update"}, "invoice.delete", false},
		{[]string{"invoices"}, "invoice.delete", true},
		{[]string{"invoices:create,delete"}, "invoice.delete", true},
		{[]string{"clients:delete"}, "invoice.delete", false},
		{[]string{"invoice:delete"}, "invoice.delete", false},
		{nil, "invoice.delete", false},
	} {
		if got := permits(tc.permissions, set.byName[tc.channel]); got != tc.want {
			t.Errorf("permissions %q, channel %s: %v, want %v", tc.permissions, tc.channel, got, tc.want)
		}
	}
}
