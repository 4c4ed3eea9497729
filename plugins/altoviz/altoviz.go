// Package altoviz shapes deliveries as the calls Altoviz's webhook document describes:
//
//	POST <webhook url>
//	Content-Type: application/json
//	X-SIGNATURE: <lowercase hex HMAC-SHA256 of the exact body bytes>   (only with a secret key)
//	X-SIGNATURE-PREVIOUS: <the same, keyed with the previous key>       (only while a rotation overlaps)
//
//	X-DELIVERY-ID: <delivery id>
//
//	{"id": "<webhook id>", "type": "CustomerCreated", "data": {<the entity, as published>}}
//
// The id is the webhook's id, the integer Altoviz's API gives the registration, as a string: the
// vendor's document says a call posts the "webhook id" and shows "id": "1233", so a receiver matches
// it to the webhook it registered. The host hands it to the plugin in Input.State
// ({"webhook_id": 1233}); without it (a dry run outside a node) the subscription's id stands in.
// At-least-once delivery still needs a key to drop duplicates by, which the body no longer has:
// X-DELIVERY-ID carries the delivery's id, the same on every retry of one event to one webhook and
// different for every other.
//
// X-SIGNATURE is present only when the webhook was registered with a secret key: the document makes
// the key optional, and a receiver without one has nothing to check. The document says the
// signature is an HMAC with SHA-256 of the request body keyed with the webhook's secret key, but
// does not name its encoding; this plugin sends lowercase hexadecimal, the form an HMAC's digest is
// printed in by default by the usual tools (hash_hmac, hexdigest, openssl dgst). The host signs;
// the key never enters the plugin.
//
// When the key is rotated (the native rotate-secret call, or registering the same url again with
// another secretKey), the previous key keeps signing for an overlap window, as in the Standard
// Webhooks style, but not in the same header: X-SIGNATURE always carries exactly one signature, made
// with the new key, and X-SIGNATURE-PREVIOUS carries the one made with the previous key while the
// overlap lasts. The vendor's document defines X-SIGNATURE as one value that a receiver compares
// with the HMAC it computes, so it cannot hold a list as webhook-signature does; and sending
// X-SIGNATURE twice would not work either, because Node, PHP and WSGI join repeated headers into
// "a, b", which no strict comparison accepts. A receiver that knows only the current key therefore
// verifies exactly as it always did, and one switching keys checks X-SIGNATURE-PREVIOUS with the
// key it still holds until it has the new one.
//
// Events is the one place the vocabulary lives: the compatible API (plugins/altoviz/host) reads it
// from the loaded plugin to turn Altoviz type names into canonical event types and back.
package altoviz

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

const (
	// SignatureHeader is the header the signature travels in, spelled as the vendor's document
	// spells it.
	SignatureHeader = "X-SIGNATURE"
	// PreviousSignatureHeader carries the signature made with the previous key during a rotation's
	// overlap; the vendor has no such header, so it is named after the one it shadows.
	PreviousSignatureHeader = "X-SIGNATURE-PREVIOUS"
	// DeliveryIDHeader carries the delivery's id, for receivers to drop duplicates by; Altoviz
	// documents no such header, so it is named in the style of the one it has.
	DeliveryIDHeader = "X-DELIVERY-ID"
)

// State is what the host hands the plugin for each delivery (Input.State).
type State struct {
	// WebhookID is the Altoviz webhook's integer id.
	WebhookID int64 `json:"webhook_id"`
}

// webhookID is the id a call carries: the webhook's, or the subscription's when the host gave none.
func webhookID(in *sdk.Input) (string, error) {
	if len(in.State) == 0 || string(in.State) == "null" {
		return in.Subscription.ID, nil
	}
	var st State
	if err := json.Unmarshal(in.State, &st); err != nil {
		return "", fmt.Errorf("read the host's state %s: %w", in.State, err)
	}
	if st.WebhookID <= 0 {
		return in.Subscription.ID, nil
	}
	return strconv.FormatInt(st.WebhookID, 10), nil
}

// Plugin is the altoviz plugin, registered by the wasm entry point and used natively by tests.
var Plugin = sdk.Plugin{Manifest: manifest, Shape: Shape}

var manifest = sdk.Manifest{
	Name:        "altoviz",
	Version:     "1.2.0",
	Description: `Altoviz webhooks: {"id","type","data"} with an optional X-SIGNATURE, the hex HMAC-SHA256 of the body, and X-SIGNATURE-PREVIOUS during a key rotation`,
	Events:      events(),
	// Receivers key their HMAC with the secret key as they typed it, whatever it looks like.
	VerbatimSecrets: true,
	SampleEvent:     []byte(`{"type":"client.create","entity":{"type":"client","id":"370"},"data":{"id":370,"email":"julien_fournier@intuit.com","companyName":"Auchan hypermarché","type":"Company","number":"C001000"}}`),
}

// events maps the canonical types to the 15 types of the vendor's table. Customers are "client" in
// the canonical vocabulary (SalesKing's channel names, see DESIGN.md), so client.* comes first; the
// customer.* spelling is accepted beside it, so that a publisher who names customers after Altoviz
// reaches Altoviz webhooks too. Both map to the same names, and a webhook of type CustomerCreated
// subscribes to both.
func events() []sdk.EventType {
	objects := []struct{ canonical, vendor string }{
		{"contact", "Contact"},
		{"client", "Customer"},
		{"customer", "Customer"},
		{"invoice", "Invoice"},
		{"quote", "Quote"},
		{"product", "Product"},
	}
	actions := []struct{ canonical, vendor string }{
		{"create", "Created"},
		{"update", "Updated"},
		{"delete", "Deleted"},
	}
	var out []sdk.EventType
	for _, o := range objects {
		for _, a := range actions {
			out = append(out, sdk.EventType{Type: o.canonical + "." + a.canonical, Name: o.vendor + a.vendor, Group: o.vendor})
		}
	}
	return out
}

// Shape builds the call for one delivery.
func Shape(in *sdk.Input) (*sdk.Request, error) {
	name := manifest.EventName(in.Event.Type)
	if name == "" {
		return nil, fmt.Errorf("altoviz has no webhook type for event type %q", in.Event.Type)
	}
	id, err := webhookID(in)
	if err != nil {
		return nil, err
	}
	w := wire.NewWriter(make([]byte, 0, len(in.Event.Data)+len(id)+len(name)+40))
	w.BeginObject()
	w.StringField("id", id)
	w.StringField("type", name)
	w.RawField("data", in.Event.Data)
	w.EndObject()
	body := w.Buf

	req := &sdk.Request{
		Method:  "POST",
		Headers: []sdk.Header{{Name: "Content-Type", Value: "application/json"}, {Name: DeliveryIDHeader, Value: in.Delivery.ID}},
		Body:    body,
	}
	if !in.Subscription.HasSecret {
		return req, nil
	}
	mac, err := in.Sign(sdk.KeySubscription, sdk.HMACSHA256, body)
	if err != nil {
		return nil, fmt.Errorf("sign the body: %w", err)
	}
	req.Headers = append(req.Headers, sdk.Header{Name: SignatureHeader, Value: hex.EncodeToString(mac)})
	// The host names no previous key outside a rotation's overlap, and none after a first key.
	switch mac, err := in.Sign(sdk.KeySubscriptionPrevious, sdk.HMACSHA256, body); {
	case errors.Is(err, sdk.ErrNoKey):
	case err != nil:
		return nil, fmt.Errorf("sign the body with the previous key: %w", err)
	default:
		req.Headers = append(req.Headers, sdk.Header{Name: PreviousSignatureHeader, Value: hex.EncodeToString(mac)})
	}
	return req, nil
}
