// Command panic panics in shape.
package main

import "github.com/switchyard/switchyard/sdk"

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "panic", Version: "1", Events: []sdk.EventType{{Type: "*"}}},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			if in.Subscription.Options["behave"] == "true" {
				return &sdk.Request{Body: []byte("fine")}, nil
			}
			panic("plugin gave up on " + in.Event.ID)
		},
	})
}

func main() {}
