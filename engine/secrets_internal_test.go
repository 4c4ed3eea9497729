package engine

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// TestVerbatimSecretsSignWithTheirOwnBytes: whatever secret a subscriber of a verbatim style is
// shown, generated or chosen, the host signs with exactly its bytes; other styles keep the
// Standard Webhooks reading.
func TestVerbatimSecretsSignWithTheirOwnBytes(t *testing.T) {
	t.Parallel()
	verbatim := &sdk.Manifest{Name: "altoviz", VerbatimSecrets: true}
	standard := &sdk.Manifest{Name: "standard"}

	generated := newSecret(verbatim)
	if len(generated) != 64 || strings.Trim(generated, "0123456789abcdef") != "" || generated == newSecret(verbatim) {
		t.Errorf("a generated verbatim secret is %q, want 64 random hex digits", generated)
	}
	if s := newSecret(standard); !strings.HasPrefix(s, "whsec_") || len(signing.HMACKey(s)) != 32 {
		t.Errorf("a generated standard secret is %q, want whsec_ and 32 bytes", s)
	}

	for _, shown := range []string{generated, "my key", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_"} {
		stored := storedSecret(verbatim, shown)
		if got := string(signing.HMACKey(stored)); got != shown {
			t.Errorf("%q is stored as %q, which signs with %q", shown, stored, got)
		}
	}
	if got := storedSecret(verbatim, ""); got != "" {
		t.Errorf("no secret is stored as %q", got)
	}
	const spec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if got := storedSecret(standard, spec); got != spec {
		t.Errorf("a standard style's secret is stored as %q", got)
	}
}
