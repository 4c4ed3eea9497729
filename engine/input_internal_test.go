package engine

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

func TestWithinURL(t *testing.T) {
	t.Parallel()
	base := "https://app.example.com/hooks"
	for target, want := range map[string]bool{
		"https://app.example.com/hooks":                 true,
		"https://app.example.com/hooks/clientinsert/42": true,
		"https://APP.example.com/hooks/x?y=1":           true,
		"https://app.example.com/hooksevil":             false,
		"https://app.example.com/other":                 false,
		"https://app.example.com/hooks/../admin":        false,
		"https://app.example.com/hooks/..":              false,
		"http://app.example.com/hooks/x":                false,
		"https://app.example.com:8443/hooks/x":          false,
		"https://app.example.com.evil.com/hooks/x":      false,
		"https://user@app.example.com/hooks/x":          false,
		// Receivers decode before they resolve dots (finding 5 of issue 15).
		"https://app.example.com/hooks/%2e%2e/%2e%2e/stolen": false,
		"https://app.example.com/hooks/%2E%2E/stolen":        false,
		"https://app.example.com/hooks/.%2e/stolen":          false,
		"https://app.example.com/hooks/%2e./stolen":          false,
		"https://app.example.com/hooks/x/%2e%2e":             true,
		"https://app.example.com/hooks/..;/stolen":           false,
		"https://app.example.com/hooks/x/%2e%2e;/stolen":     false,
		"https://app.example.com/hooks/x/%2e%2e/y":           true,
		"https://app.example.com/hooks/./x":                  true,
		"https://app.example.com/hooks/%2e/x":                true,
		"https://app.example.com/hooks%2fx":                  false,
		"https://app.example.com/hooks/a%2f..%2f..%2fstolen": false,
		"https://app.example.com/hooks/a%2fb":                false,
		"https://app.example.com/hooks/a%5c..%5c..%5cstolen": false,
		"https://app.example.com/hooks/a%5cb":                false,
		"https://app.example.com/hooks/%252e%252e/stolen":    false,
		"https://app.example.com/hooks/a%zz":                 false,
		"https://app.example.com/hooks//x":                   true,
		"https://app.example.com:443/hooks/x":                true,
		"https://app.example.com:444/hooks/x":                false,
		"://nonsense":                                        false,
	} {
		if got := withinURL(target, base); got != want {
			t.Errorf("withinURL(%q) = %v, want %v", target, got, want)
		}
	}
	if !withinURL("https://app.example.com/anything", "https://app.example.com/") {
		t.Error("everything on the host lies within a root URL")
	}
	// A subscription URL may carry an encoded slash inside one segment (a token, say): requests to
	// it and below it stay within; one that splits the segment does not.
	tokenBase := "https://app.example.com/in/AbC%2Fdef"
	for target, want := range map[string]bool{
		"https://app.example.com/in/AbC%2Fdef":     true,
		"https://app.example.com/in/AbC%2fdef/x":   true,
		"https://app.example.com/in/AbC/def/x":     false,
		"https://app.example.com/in/AbC%2Fdef%2Fx": false,
	} {
		if got := withinURL(target, tokenBase); got != want {
			t.Errorf("withinURL(%q, %q) = %v, want %v", target, tokenBase, got, want)
		}
	}
}

// TestFillSecretsOnlyTowardsTheSubscriber: a plugin may have the app's key written into a request
// to the subscription's URL, never into one it aims elsewhere.
func TestFillSecretsOnlyTowardsTheSubscriber(t *testing.T) {
	t.Parallel()
	sub := &Subscription{URL: "https://app.example.com/upsales"}
	keys := &signing.Keyring{App: "the-app-key"}
	ph := "{{switchyard-secret:00112233445566778899aabbccddeeff}}"
	req := &sdk.Request{Path: "/clientinsert/1", Body: []byte(ph), Secrets: []sdk.SecretRef{{Placeholder: ph, Key: sdk.KeyApp}}}
	send, record, err := FillSecrets(sub, RequestURL(sub, req), req, keys)
	if err != nil || string(send.Body) != "the-app-key" || string(record.Body) != "[secret:app]" {
		t.Fatalf("to the subscriber: %v %q %q", err, send.Body, record.Body)
	}
	req.URL = "https://collector.example.net/steal"
	_, _, err = FillSecrets(sub, RequestURL(sub, req), req, keys)
	if err == nil || !strings.Contains(err.Error(), "https://collector.example.net") || strings.Contains(err.Error(), "steal") {
		t.Fatalf("elsewhere: %v", err)
	}
}

// A URL is within itself unless withinURL refuses it outright: ownURLs must answer as withinURL
// does, the first time and after.
func TestOwnURLsAnswerAsWithinURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"https://app.example.com/hooks", "https://app.example.com/in/AbC%2Fdef", "https://app.example.com/hooks/a%zz",
		"https://user@app.example.com/hooks", "://nonsense", "mailto:someone@example.com",
	} {
		want := withinURL(u, u)
		for range 2 {
			if got, _ := ownURLs.Get(u); got != want {
				t.Errorf("ownURLs.Get(%q) = %v, withinURL says %v", u, got, want)
			}
		}
	}
	refused, _ := ownURLs.Get("https://app.example.com/hooks/a%zz")
	accepted, _ := ownURLs.Get("https://app.example.com/hooks")
	if refused || !accepted {
		t.Fatal("the cases above no longer tell a refused URL from an accepted one")
	}
}
