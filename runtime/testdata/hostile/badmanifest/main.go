// Command badmanifest has a manifest the host must refuse.
package main

import "github.com/switchyard/switchyard/sdk"

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "Bad Name", Events: []sdk.EventType{{Type: "client"}}},
		Shape:    func(in *sdk.Input) (*sdk.Request, error) { return &sdk.Request{}, nil },
	})
}

func main() {}
