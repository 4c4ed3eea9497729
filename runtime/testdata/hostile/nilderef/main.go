// Command nilderef dereferences a nil pointer in shape.
package main

import "github.com/switchyard/switchyard/sdk"

type config struct{ url string }

var cfg *config

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "nilderef", Version: "1", Events: []sdk.EventType{{Type: "*"}}},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			if in.Subscription.Options["behave"] == "true" {
				return &sdk.Request{Body: []byte("fine")}, nil
			}
			return &sdk.Request{URL: cfg.url}, nil
		},
	})
}

func main() {}
