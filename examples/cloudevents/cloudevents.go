// Package cloudevents is a custom Switchyard plugin written from scratch with the SDK: it delivers
// events as CloudEvents 1.0 in the HTTP binding's binary content mode
// (github.com/cloudevents/spec, http-protocol-binding.md), where the event's attributes travel as
// ce-* headers and its data is the body, untouched:
//
//	POST <subscription url>
//	content-type: application/json
//	ce-specversion: 1.0
//	ce-id: <delivery id: the same on every retry, so receivers can drop duplicates>
//	ce-source: /switchyard/accounts/<account id>
//	ce-type: com.switchyard.<object>.<action>
//	ce-subject: <entity type>/<entity id>
//	ce-time: <when the event occurred, RFC 3339>
//
//	<the event's data>
//
// Options: type_prefix replaces "com.switchyard." (CloudEvents types are reverse-DNS names of the
// producer's choosing) and source replaces the source's "/switchyard" prefix.
//
// CloudEvents defines no signature. When the subscription has a secret, the plugin adds an
// extension attribute ce-signature: "sha256=" and the hex HMAC-SHA256 of "<ce-id>.<ce-time>.<body>",
// made by the host with the subscription's secret (the plugin only names the key).
package cloudevents

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// Plugin is the CloudEvents plugin; wasm/main.go registers it, and tests run it natively.
var Plugin = sdk.Plugin{
	Manifest: sdk.Manifest{
		Name:        "cloudevents",
		Version:     "1.0.0",
		Description: "CloudEvents 1.0, HTTP binary content mode: ce-* headers, the event's data as the body",
		Events:      []sdk.EventType{{Type: "*"}},
		Options: []sdk.Option{
			{Name: "type_prefix", Description: "prefix of ce-type, before object.action", Default: "com.switchyard."},
			{Name: "source", Description: "prefix of ce-source, before /accounts/<id>", Default: "/switchyard"},
		},
		SampleEvent: []byte(`{"type":"client.create","entity":{"type":"client","id":"42"},"data":{"id":42,"name":"Acme GmbH"}}`),
	},
	Shape: Shape,
}

// Shape builds the CloudEvents request for one delivery.
func Shape(in *sdk.Input) (*sdk.Request, error) {
	if in.Event.Type == "" {
		return nil, errors.New("cloudevents: the event has no type")
	}
	opts := in.Subscription.Options
	prefix, ok := opts["type_prefix"]
	if !ok {
		prefix = "com.switchyard."
	}
	source, ok := opts["source"]
	if !ok {
		source = "/switchyard"
	}
	source = strings.TrimRight(source, "/") + "/accounts/" + in.Event.AccountID
	at := string(wire.AppendRFC3339Millis(nil, in.Event.OccurredAt))

	req := &sdk.Request{Method: "POST", Body: in.Event.Data}
	req.SetHeader("content-type", "application/json")
	req.SetHeader("ce-specversion", "1.0")
	req.SetHeader("ce-id", in.Delivery.ID)
	req.SetHeader("ce-source", source)
	req.SetHeader("ce-type", prefix+in.Event.Type)
	if in.Event.Entity.Type != "" || in.Event.Entity.ID != "" {
		req.SetHeader("ce-subject", in.Event.Entity.Type+"/"+in.Event.Entity.ID)
	}
	req.SetHeader("ce-time", at)
	if in.Subscription.HasSecret {
		msg := make([]byte, 0, len(in.Delivery.ID)+len(at)+len(in.Event.Data)+2)
		msg = append(append(append(append(append(msg, in.Delivery.ID...), '.'), at...), '.'), in.Event.Data...)
		mac, err := in.Sign(sdk.KeySubscription, sdk.HMACSHA256, msg)
		if err != nil {
			return nil, err
		}
		req.SetHeader("ce-signature", "sha256="+hex.EncodeToString(mac))
	}
	return req, nil
}
