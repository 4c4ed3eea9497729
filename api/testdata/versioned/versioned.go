// Package versioned is a test plugin built in two versions, to swap one for the other under load.
// Each version names itself in the request it shapes (x-plugin-version), and its on_response
// accepts an answer only if the receiver saw that same version, so a delivery shaped by one version
// and judged by another fails.
package versioned

import "github.com/switchyard/switchyard/sdk"

// New returns the plugin at version.
func New(version string) *sdk.Plugin {
	return &sdk.Plugin{
		Manifest: sdk.Manifest{
			Name: "versioned", Version: version, Events: []sdk.EventType{{Type: "*"}},
			SampleEvent: []byte(`{"type":"client.create","entity":{"type":"client","id":"1"},"data":{"id":1}}`),
		},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			req := &sdk.Request{Body: in.Event.Data}
			req.SetHeader("content-type", "application/json")
			req.SetHeader("x-plugin-version", version)
			req.SetHeader("x-delivery-id", in.Delivery.ID)
			return req, nil
		},
		OnResponse: func(in *sdk.Input) (*sdk.Verdict, error) {
			if saw := in.Response.Header("x-saw-version"); saw != version {
				return &sdk.Verdict{Outcome: sdk.OutcomeGiveUp, Message: "judged by " + version + " but shaped by " + saw}, nil
			}
			if in.Response.Status/100 != 2 {
				return &sdk.Verdict{Outcome: sdk.OutcomeRetry}, nil
			}
			return &sdk.Verdict{Outcome: sdk.OutcomeSuccess}, nil
		},
	}
}
