// Command loop never returns from shape.
package main

import "github.com/switchyard/switchyard/sdk"

var spins int

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "loop", Version: "1", Events: []sdk.EventType{{Type: "*"}}},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			if in.Subscription.Options["behave"] == "true" {
				return &sdk.Request{Body: []byte("fine")}, nil
			}
			for {
				spins++
			}
		},
	})
}

func main() {}
