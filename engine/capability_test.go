package engine_test

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/engine"
)

// TestCapabilityKey: a token names its id and is valid only under the key and purpose that made
// it; changing the id, the MAC or the purpose, or another node's key, makes it worthless.
func TestCapabilityKey(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	k := engine.NewCapabilityKey(secret, "subscription confirmation")
	tok := k.Token("sub_1")
	if id, ok := k.ID(tok); !ok || id != "sub_1" {
		t.Fatalf("ID(%q) = %q, %v", tok, id, ok)
	}
	if again := engine.NewCapabilityKey(secret, "subscription confirmation").Token("sub_1"); again != tok {
		t.Errorf("the same key and purpose made %q, then %q: a restart would break sent URLs", tok, again)
	}
	_, mac, _ := strings.Cut(tok, ".")
	for name, bad := range map[string]string{
		"another id":      "sub_2." + mac,
		"a changed MAC":   tok[:len(tok)-1] + "A",
		"no MAC":          "sub_1",
		"an empty id":     "." + mac,
		"another purpose": engine.NewCapabilityKey(secret, "upsales callback").Token("sub_1"),
		"another key":     engine.NewCapabilityKey([]byte(strings.Repeat("x", 32)), "subscription confirmation").Token("sub_1"),
	} {
		if name == "a changed MAC" && strings.HasSuffix(tok, "A") {
			bad = tok[:len(tok)-1] + "B"
		}
		if _, ok := k.ID(bad); ok {
			t.Errorf("%s: %q was taken as valid", name, bad)
		}
	}
	if h := engine.HashToken(tok); len(h) != 64 || strings.Contains(h, tok) {
		t.Errorf("HashToken = %q", h)
	}
}
