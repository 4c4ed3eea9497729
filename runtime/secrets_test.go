package runtime

import (
	"bytes"
	"context"
	"testing"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// TestSecretsNeverEnterGuestMemory: a plugin that signs with the app's key and has it written into
// its request gets a signature and a placeholder, and after the call no byte sequence of the key is
// anywhere in the instance's linear memory; the host writes it into the request afterwards.
func TestSecretsNeverEnterGuestMemory(t *testing.T) {
	t.Parallel()
	const secret = "app-secret-that-must-stay-outside-the-sandbox-7f3a"
	for _, mode := range []Mode{Sandboxed, Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			b := setup(t, Config{})
			p := b.load(t, echoWasm(t), mode)
			in := sampleInput()
			in.Subscription.Options = map[string]string{"key": sdk.KeyApp, "alg": sdk.HMACSHA256, "embed": sdk.KeyApp}
			keys := &signing.Keyring{App: secret}
			req, err := p.Shape(context.Background(), in, keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(req.Secrets) != 1 || header(req, "x-embedded") != req.Secrets[0].Placeholder || header(req, "x-signature") == "" {
				t.Fatalf("request %+v", req)
			}
			send, _, err := keys.FillSecrets(req)
			if err != nil || header(send, "x-embedded") != secret {
				t.Fatalf("the host did not fill the secret in: %v %+v", err, send.Headers)
			}

			p.pool.mu.Lock()
			idle := append([]*instance(nil), p.pool.idle...)
			p.pool.mu.Unlock()
			if len(idle) == 0 {
				t.Fatal("no idle instance to inspect")
			}
			for _, inst := range idle {
				mem := inst.mod.Memory()
				view, ok := mem.Read(0, mem.Size())
				if !ok {
					t.Fatal("cannot read guest memory")
				}
				// Prove the scan can see what the call left: the placeholder is there.
				if !bytes.Contains(view, []byte(req.Secrets[0].Placeholder)) {
					t.Fatal("the placeholder is not in guest memory; the scan proves nothing")
				}
				for _, part := range []string{secret, secret[:16], secret[len(secret)-16:]} {
					if bytes.Contains(view, []byte(part)) {
						t.Errorf("guest memory holds %q of the app's secret", part)
					}
				}
			}
		})
	}
}
