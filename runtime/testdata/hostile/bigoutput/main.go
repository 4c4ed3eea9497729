// Command bigoutput returns a body larger than the host accepts.
package main

import "github.com/switchyard/switchyard/sdk"

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "bigoutput", Version: "1", Events: []sdk.EventType{{Type: "*"}}},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			if in.Subscription.Options["behave"] == "true" {
				return &sdk.Request{Body: []byte("fine")}, nil
			}
			return &sdk.Request{Body: make([]byte, 16<<20)}, nil
		},
	})
}

func main() {}
