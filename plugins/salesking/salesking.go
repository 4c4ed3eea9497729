// Package salesking shapes deliveries the way SalesKing pushes notifications to the apps
// subscribed to a channel, so that an app decoding them with SalesKing's SDK
// (SK::SDK::SignedRequest in the sk_sdk gem) works unchanged:
//
//	POST <callback_url>
//	content-type: application/x-www-form-urlencoded
//
//	signed_request=<signature>.<payload>
//
// payload is the base64url encoding (the URL-safe alphabet, no '=' padding, no newlines) of a JSON
// object, and signature is the lowercase hex HMAC-SHA256 of the payload string (the base64url text,
// not the JSON) keyed with the app's secret (sdk.KeyApp: the host signs, the secret never enters
// the plugin). This is the SDK's signed_param; its SignedRequest splits on '.', decodes the payload
// and, in valid?, requires "algorithm" to be "HMAC-SHA256" and the signature to match.
//
// The JSON object carries, in this order:
//
//	algorithm    "HMAC-SHA256", which SignedRequest#valid? requires
//	issued_at    when this attempt was signed, in unix seconds (receivers may refuse stale ones)
//	channel      the channel, "object.action" (client.create, invoice.delete, ...)
//	company_id   the account (SalesKing company) the object belongs to
//	sub_domain   the company's SalesKing sub-domain, when the operator recorded one for the account
//	user_id      who caused the change, when the publisher said
//	sub_id       the subscription this delivery is for
//	delivery_id  the same on every retry of this delivery, so receivers can drop duplicates
//	<object>     the object in its latest state, under its singular name ("client": {...}), the
//	             way SalesKing's API and schema serializer wrap an object
//
// With the subscription option envelope=false the event's data is signed as it is, as the whole
// JSON object: for a publisher that builds the complete notification itself (it must then carry
// "algorithm" itself for valid? to pass). The data must be a JSON object, because SignedRequest
// reads data['algorithm'].
//
// The channels, and the plural names notification scopes use for them (clients:create allows
// client.create), are the manifest's: each event type's Name is the channel and its Group the
// plural. SalesKing's compatible API (plugins/salesking/host) reads both from here.
package salesking

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// Name is the plugin's name: the format of SalesKing subscriptions.
const Name = "salesking"

// Algorithm is the value of the payload's "algorithm" field that SignedRequest#valid? requires.
const Algorithm = "HMAC-SHA256"

// Actions are the actions every object has a channel for.
var Actions = []string{"create", "update", "delete"}

// Object is a SalesKing object that has channels: Singular names the channel ("client.create")
// and is the canonical event type's object; Plural is the name scopes use ("clients:create").
type Object struct {
	Singular, Plural string
}

// Objects are the objects with channels. They are the objects of SalesKing's published API schema
// (github.com/salesking/sk_api_schema, json/v1.0 and v2.0) that a user creates, edits and deletes
// in SalesKing itself, plurals as in their API paths (/api/recurrings). Parts of other objects
// (addresses, line items), templates, settings and the account itself have no channels here.
var Objects = []Object{
	{"attachment", "attachments"},
	{"client", "clients"},
	{"comment", "comments"},
	{"contact", "contacts"},
	{"credit_note", "credit_notes"},
	{"document", "documents"},
	{"email", "emails"},
	{"estimate", "estimates"},
	{"invoice", "invoices"},
	{"order", "orders"},
	{"payment", "payments"},
	{"payment_reminder", "payment_reminders"},
	{"product", "products"},
	{"recurring", "recurrings"},
	{"task", "tasks"},
}

// channels lists every object's create, update and delete channels, each with its scope's plural.
func channels() []sdk.EventType {
	out := make([]sdk.EventType, 0, len(Objects)*len(Actions))
	for _, o := range Objects {
		for _, a := range Actions {
			ch := o.Singular + "." + a
			out = append(out, sdk.EventType{Type: ch, Name: ch, Group: o.Plural})
		}
	}
	return out
}

// Plugin is the SalesKing plugin, registered by the wasm entry point and used natively by tests.
var Plugin = sdk.Plugin{
	Manifest: sdk.Manifest{
		Name:        Name,
		Version:     "1.0.0",
		Description: "SalesKing push notifications: a form-encoded signed_request, HMAC-SHA256 with the app's secret",
		Events:      channels(),
		Options: []sdk.Option{{
			Name:        "envelope",
			Description: `"true" signs {"algorithm","channel","company_id",...,"<object>": data}; "false" signs the event's data, a JSON object, as it is`,
			Default:     "true",
			Values:      []string{"true", "false"},
		}},
		SampleEvent: []byte(`{"type":"client.create","entity":{"type":"client","id":"42"},"data":{"id":"42","organisation":"Acme GmbH"}}`),
	},
	Shape: Shape,
}

// Shape builds the signed_request POST for one delivery.
func Shape(in *sdk.Input) (*sdk.Request, error) {
	payload := []byte(in.Event.Data)
	if in.Subscription.Options["envelope"] == "false" {
		if !isJSONObject(payload) {
			return nil, errors.New("with envelope=false the event's data must be a JSON object: SignedRequest reads data['algorithm']")
		}
	} else {
		var err error
		if payload, err = Payload(in); err != nil {
			return nil, err
		}
	}
	// The signed_request is lowercase hex, a dot and base64url: characters a form carries as they
	// are, so the body needs no escaping and is built in place.
	const field = "signed_request="
	body := make([]byte, 0, len(field)+signedParamLen(len(payload)))
	body, err := AppendSignedParam(append(body, field...), in, payload)
	if err != nil {
		return nil, err
	}
	return &sdk.Request{
		Method:  "POST",
		Headers: []sdk.Header{{Name: "content-type", Value: "application/x-www-form-urlencoded"}},
		Body:    body,
	}, nil
}

// sigLen is the length of the hex HMAC-SHA256 signature.
const sigLen = 2 * sha256.Size

func signedParamLen(docLen int) int { return sigLen + 1 + base64.RawURLEncoding.EncodedLen(docLen) }

// AppendSignedParam appends SalesKing's signed_param of doc to dst: the JSON base64url-encoded
// without padding, and before it, joined by a dot, the lowercase hex HMAC-SHA256 of that text with
// the app's secret.
func AppendSignedParam(dst []byte, in *sdk.Input, doc []byte) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, signedParamLen(len(doc)))
	dst = append(dst[:start+sigLen], '.') // the signature's place, filled in once it is known
	dst = base64.RawURLEncoding.AppendEncode(dst, doc)
	mac, err := in.Sign(sdk.KeyApp, sdk.HMACSHA256, dst[start+sigLen+1:])
	if errors.Is(err, sdk.ErrNoKey) {
		return nil, errors.New("the app has no secret to sign the signed_request with")
	}
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if len(mac) != sha256.Size {
		return nil, fmt.Errorf("sign: the host returned %d bytes for an HMAC-SHA256", len(mac))
	}
	hex.Encode(dst[start:start+sigLen], mac)
	return dst, nil
}

// Payload is the JSON object a notification signs (see the package comment).
func Payload(in *sdk.Input) ([]byte, error) {
	object, _, ok := strings.Cut(in.Event.Type, ".")
	if !ok || object == "" {
		return nil, fmt.Errorf("event type %q is not a channel (object.action)", in.Event.Type)
	}
	subDomain, err := stateSubDomain(in.State)
	if err != nil {
		return nil, err
	}
	w := wire.NewWriter(make([]byte, 0, len(in.Event.Data)+320))
	w.BeginObject()
	w.StringField("algorithm", Algorithm)
	w.IntField("issued_at", in.Now().Unix())
	w.StringField("channel", in.Event.Type)
	w.StringField("company_id", in.Event.AccountID)
	w.StringFieldOmitEmpty("sub_domain", subDomain)
	if in.Event.User != nil {
		w.StringFieldOmitEmpty("user_id", in.Event.User.ID)
	}
	w.StringFieldOmitEmpty("sub_id", in.Subscription.ID)
	w.StringFieldOmitEmpty("delivery_id", in.Delivery.ID)
	w.RawField(object, in.Event.Data)
	w.EndObject()
	return w.Buf, nil
}

// stateSubDomain reads the sub-domain the SalesKing style passes as the delivery's state:
// {"sub_domain": "..."}.
func stateSubDomain(state []byte) (string, error) {
	if len(bytes.TrimSpace(state)) == 0 {
		return "", nil
	}
	r := wire.NewReader(state)
	if r.Null() {
		return "", nil
	}
	var sub string
	err := r.Object(func(key []byte) (err error) {
		if string(key) == "sub_domain" {
			sub, err = r.String()
			return err
		}
		return r.Skip()
	})
	if err == nil {
		err = r.End()
	}
	if err != nil {
		return "", fmt.Errorf("delivery state: %w", err)
	}
	return sub, nil
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' {
		return false
	}
	r := wire.NewReader(b)
	return r.Skip() == nil && r.End() == nil
}
