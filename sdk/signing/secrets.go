package signing

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// ErrSecretRefused is returned by FillSecrets for a request that asks for a key that is never
// sent (the server's private key), in an encoding the host does not know, or with a placeholder
// too short to be unguessable.
var ErrSecretRefused = errors.New("secret refused")

// Secret returns the shared secret ref names, for writing into a request: the subscription's
// secrets and the app's. The server's key is a private key and is never written anywhere.
func (k *Keyring) Secret(ref string) (string, error) {
	var secret string
	switch ref {
	case sdk.KeySubscription:
		secret = k.Subscription
	case sdk.KeySubscriptionPrevious:
		secret = k.SubscriptionPrevious
	case sdk.KeyApp:
		secret = k.App
	case sdk.KeyServer:
		return "", fmt.Errorf("%w: the server's private key is never sent", ErrSecretRefused)
	}
	if secret == "" {
		return "", fmt.Errorf("%w: %q", sdk.ErrNoKey, ref)
	}
	return secret, nil
}

// FillSecrets returns the request to send, with every placeholder req.Secrets lists replaced in its
// body and header values by the secret it names, and the request to record, with each replaced by
// "[secret:<key>]" instead, so that logs and stored attempts never hold the secret. A request that
// lists no secrets is returned as both. req itself is not changed.
//
// Where the request may go is the caller's decision: the host fills secrets only into requests to
// the subscription's own URL.
func (k *Keyring) FillSecrets(req *sdk.Request) (send, record *sdk.Request, err error) {
	if len(req.Secrets) == 0 {
		return req, req, nil
	}
	sendOld := make([]string, 0, 2*len(req.Secrets))
	recordOld := make([]string, 0, 2*len(req.Secrets))
	for _, ref := range req.Secrets {
		if len(ref.Placeholder) < sdk.MinPlaceholderLen {
			return nil, nil, fmt.Errorf("%w: placeholder %q is shorter than %d characters", ErrSecretRefused, ref.Placeholder, sdk.MinPlaceholderLen)
		}
		secret, err := k.Secret(ref.Key)
		if err != nil {
			return nil, nil, err
		}
		var value string
		switch ref.Encoding {
		case sdk.SecretRaw, "":
			value = secret
		case sdk.SecretJSON:
			quoted := wire.AppendString(nil, secret)
			value = string(quoted[1 : len(quoted)-1])
		default:
			return nil, nil, fmt.Errorf("%w: unknown encoding %q for key %q", ErrSecretRefused, ref.Encoding, ref.Key)
		}
		sendOld = append(sendOld, ref.Placeholder, value)
		recordOld = append(recordOld, ref.Placeholder, "[secret:"+ref.Key+"]")
	}
	return replaceIn(req, strings.NewReplacer(sendOld...)), replaceIn(req, strings.NewReplacer(recordOld...)), nil
}

func replaceIn(req *sdk.Request, r *strings.Replacer) *sdk.Request {
	out := *req
	out.Secrets = nil
	out.Headers = make([]sdk.Header, len(req.Headers))
	for i, h := range req.Headers {
		out.Headers[i] = sdk.Header{Name: h.Name, Value: r.Replace(h.Value)}
	}
	var body bytes.Buffer
	body.Grow(len(req.Body))
	_, _ = r.WriteString(&body, string(req.Body))
	out.Body = body.Bytes()
	return &out
}
