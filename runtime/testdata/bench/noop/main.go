// Command noop decodes its input through the SDK and returns a constant request: the ABI's own cost.
package main

import "github.com/switchyard/switchyard/sdk"

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{Name: "noop", Version: "1", Events: []sdk.EventType{{Type: "*"}}},
		Shape:    func(in *sdk.Input) (*sdk.Request, error) { return &sdk.Request{Body: in.Event.Data}, nil },
	})
}

func main() {}
