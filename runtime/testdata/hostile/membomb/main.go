// Command membomb allocates in shape until memory runs out.
package main

import "github.com/switchyard/switchyard/sdk"

var hoard [][]byte

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "membomb", Version: "1", Events: []sdk.EventType{{Type: "*"}}},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			if in.Subscription.Options["behave"] == "true" {
				return &sdk.Request{Body: []byte("fine")}, nil
			}
			for {
				hoard = append(hoard, make([]byte, 1<<20))
			}
		},
	})
}

func main() {}
