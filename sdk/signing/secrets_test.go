package signing_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

const (
	phApp = "{{switchyard-secret:0123456789abcdef0123456789abcdef}}"
	phSub = "{{switchyard-secret:fedcba9876543210fedcba9876543210}}"
)

func TestFillSecrets(t *testing.T) {
	t.Parallel()
	keys := &signing.Keyring{App: `app "quoted" \ key`, Subscription: "whsec_abc"}
	req := &sdk.Request{
		Method:  "POST",
		Headers: []sdk.Header{{Name: "x-key", Value: phSub}, {Name: "x-other", Value: "plain"}},
		Body:    []byte(`{"authenticationKey":"` + phApp + `","again":"` + phApp + `"}`),
		Secrets: []sdk.SecretRef{{Placeholder: phApp, Key: sdk.KeyApp, Encoding: sdk.SecretJSON}, {Placeholder: phSub, Key: sdk.KeySubscription, Encoding: sdk.SecretRaw}},
	}
	orig := string(req.Body)
	send, record, err := keys.FillSecrets(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ AuthenticationKey, Again string }
	if err := json.Unmarshal(send.Body, &body); err != nil {
		t.Fatalf("filled body is not JSON: %s: %v", send.Body, err)
	}
	if body.AuthenticationKey != keys.App || body.Again != keys.App {
		t.Errorf("filled body %s", send.Body)
	}
	if send.Headers[0].Value != "whsec_abc" || send.Headers[1].Value != "plain" || len(send.Secrets) != 0 {
		t.Errorf("filled request %+v", send)
	}
	if strings.Contains(string(record.Body), "quoted") || record.Headers[0].Value != "[secret:subscription]" ||
		!strings.Contains(string(record.Body), `"authenticationKey":"[secret:app]"`) {
		t.Errorf("recorded request keeps a secret or lost its marker: %+v %s", record, record.Body)
	}
	if string(req.Body) != orig || req.Headers[0].Value != phSub {
		t.Error("FillSecrets changed the request it was given")
	}
}

func TestFillSecretsRefuses(t *testing.T) {
	t.Parallel()
	keys := &signing.Keyring{App: "k"}
	for _, c := range []struct {
		name string
		ref  sdk.SecretRef
		want error
	}{
		{"server key", sdk.SecretRef{Placeholder: phApp, Key: sdk.KeyServer}, signing.ErrSecretRefused},
		{"no such key", sdk.SecretRef{Placeholder: phApp, Key: sdk.KeySubscription}, sdk.ErrNoKey},
		{"unknown key", sdk.SecretRef{Placeholder: phApp, Key: "database"}, sdk.ErrNoKey},
		{"short placeholder", sdk.SecretRef{Placeholder: "KEY", Key: sdk.KeyApp}, signing.ErrSecretRefused},
		{"unknown encoding", sdk.SecretRef{Placeholder: phApp, Key: sdk.KeyApp, Encoding: "base64"}, signing.ErrSecretRefused},
	} {
		_, _, err := keys.FillSecrets(&sdk.Request{Body: []byte(phApp), Secrets: []sdk.SecretRef{c.ref}})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	plain := &sdk.Request{Body: []byte("x")}
	if send, record, err := keys.FillSecrets(plain); err != nil || send != plain || record != plain {
		t.Error("a request without secrets must pass through untouched")
	}
}
