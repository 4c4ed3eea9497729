// Package standard shapes deliveries in the Standard Webhooks format (standardwebhooks.com):
//
//	POST <subscription url>
//	content-type: application/json
//	webhook-id: <delivery id, the same on every retry>
//	webhook-timestamp: <unix seconds of this attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">
//
//	{"type": "client.create", "timestamp": "<when the event occurred, RFC 3339>", "data": {...}}
//
// Subscription secrets have the spec's form "whsec_<base64>"; the host signs with the decoded bytes.
// While a rotated-out secret is still in its overlap window, the header carries a second signature
// made with it ("v1,<new> v1,<old>"), as the spec allows, so receivers can switch secrets without a
// gap. The subscription option envelope=false sends the event's data alone as the body.
package standard

import (
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// Plugin is the standard plugin, registered by the wasm entry point and used natively by tests.
var Plugin = sdk.Plugin{
	Manifest: sdk.Manifest{
		Name:        "standard",
		Version:     "1.0.0",
		Description: "Standard Webhooks: webhook-id, webhook-timestamp and a v1 HMAC-SHA256 webhook-signature",
		Events:      []sdk.EventType{{Type: "*"}},
		Options: []sdk.Option{{
			Name:        "envelope",
			Description: `"true" wraps data in {"type","timestamp","data"}; "false" sends the event's data alone`,
			Default:     "true",
			Values:      []string{"true", "false"},
		}},
		SampleEvent: []byte(`{"type":"client.create","entity":{"type":"client","id":"42"},"data":{"id":42,"name":"Acme"}}`),
	},
	Shape: Shape,
}

// Shape builds the signed request for one delivery.
func Shape(in *sdk.Input) (*sdk.Request, error) {
	if !in.Subscription.HasSecret {
		return nil, errors.New("a standard webhooks subscription needs a signing secret")
	}
	ts := strconv.AppendInt(make([]byte, 0, 12), in.Now().Unix(), 10)

	// The signed content is "id.timestamp.body"; building the body right after that prefix gives
	// the message to sign and the body from a single buffer.
	signed := make([]byte, 0, len(in.Delivery.ID)+len(ts)+len(in.Event.Data)+128)
	signed = append(signed, in.Delivery.ID...)
	signed = append(signed, '.')
	signed = append(signed, ts...)
	signed = append(signed, '.')
	bodyStart := len(signed)
	if in.Subscription.Options["envelope"] == "false" {
		signed = append(signed, in.Event.Data...)
	} else {
		w := wire.NewWriter(signed)
		w.BeginObject()
		w.StringField("type", in.Event.Type)
		w.Key("timestamp")
		w.Time(in.Event.OccurredAt)
		w.RawField("data", in.Event.Data)
		w.EndObject()
		signed = w.Buf
	}

	signature, err := signatures(in, signed)
	if err != nil {
		return nil, err
	}
	return &sdk.Request{
		Method: "POST",
		Headers: []sdk.Header{
			{Name: "content-type", Value: "application/json"},
			{Name: "webhook-id", Value: in.Delivery.ID},
			{Name: "webhook-timestamp", Value: string(ts)},
			{Name: "webhook-signature", Value: signature},
		},
		Body: signed[bodyStart:],
	}, nil
}

// signatures returns the webhook-signature header value: the current secret's signature, then the
// previous secret's while it is still valid.
func signatures(in *sdk.Input, msg []byte) (string, error) {
	header := make([]byte, 0, 2*48)
	for _, ref := range [...]string{sdk.KeySubscription, sdk.KeySubscriptionPrevious} {
		mac, err := in.Sign(ref, sdk.HMACSHA256, msg)
		if errors.Is(err, sdk.ErrNoKey) && ref == sdk.KeySubscriptionPrevious {
			break
		}
		if err != nil {
			return "", err
		}
		if len(header) > 0 {
			header = append(header, ' ')
		}
		header = append(header, "v1,"...)
		header = base64.StdEncoding.AppendEncode(header, mac)
	}
	return string(header), nil
}
