// Command initloop never finishes initialising.
package main

import "github.com/switchyard/switchyard/sdk"

var spins int

func init() {
	for {
		spins++
	}
}

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "initloop", Version: "1", Events: []sdk.EventType{{Type: "*"}}},
		Shape:    func(in *sdk.Input) (*sdk.Request, error) { return &sdk.Request{}, nil },
	})
}

func main() {}
