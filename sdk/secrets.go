package sdk

import "encoding/hex"

// Encodings the host can write a secret in, in place of its placeholder.
const (
	// SecretRaw writes the secret's bytes as they are: for header values and plain-text bodies.
	SecretRaw = "raw"
	// SecretJSON writes the secret escaped for the inside of a JSON string, for a placeholder the
	// plugin put between a JSON string's quotes.
	SecretJSON = "json"
)

// SecretRef asks the host to write the secret Key names into the request, in place of every
// occurrence of Placeholder in the body and in header values, after the plugin has returned it.
// Input.Secret makes them; a plugin written without this SDK lists them in the request's head.
type SecretRef struct {
	Placeholder string
	Key         string
	Encoding    string
}

// MinPlaceholderLen is the shortest placeholder the host accepts: a placeholder must be unguessable,
// or event data that happened to contain it would have the secret written into it.
const MinPlaceholderLen = 24

// secretPlaceholderPrefix starts every placeholder Input.Secret makes. Its characters need no
// escaping in JSON strings, URLs' query values or header values, so the placeholder survives
// whatever encoding the plugin puts it through.
const secretPlaceholderPrefix = "{{switchyard-secret:"

// Secret returns a placeholder that stands for the secret keyRef names (KeyApp, KeySubscription,
// KeySubscriptionPrevious), for a vendor format that sends a shared key itself rather than a
// signature made with it. Put the placeholder in the request's body or a header value; after the
// call the host replaces it with the secret, written in encoding (SecretRaw, SecretJSON). The secret
// never enters the sandbox: the plugin only ever holds the placeholder.
//
// The host fills secrets only into a request that goes to the subscription's own URL (Request.URL
// empty, or under the subscription's URL): the key's owner is the only receiver that may see it.
// KeyServer, a private key, is never filled. The placeholder carries 128 random bits from the host,
// so event data cannot contain it by chance or by design.
func (in *Input) Secret(keyRef, encoding string) string {
	nonce := in.Random(16)
	b := make([]byte, 0, len(secretPlaceholderPrefix)+2*len(nonce)+2)
	b = append(b, secretPlaceholderPrefix...)
	b = hex.AppendEncode(b, nonce)
	b = append(b, "}}"...)
	ph := string(b)
	in.secrets = append(in.secrets, SecretRef{Placeholder: ph, Key: keyRef, Encoding: encoding})
	return ph
}
