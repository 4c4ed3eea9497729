// Package loopy is a test plugin that passes validation (its sample event is harmless) and then
// never returns from shape for events of one type, the way an uploaded plugin with a bug on one
// code path would: the loops build loops on that type, the fixed build shapes every event.
package loopy

import (
	"github.com/switchyard/switchyard/sdk"
)

// LoopType is the event type the looping build never returns from.
const LoopType = "client.loop"

var spins int

// New returns the plugin; loops says whether it loops on LoopType.
func New(version string, loops bool) *sdk.Plugin {
	return &sdk.Plugin{
		Manifest: sdk.Manifest{
			Name: "loopy", Version: version, Events: []sdk.EventType{{Type: "*"}},
			SampleEvent: []byte(`{"type":"client.create","data":{"id":1}}`),
		},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			if loops && in.Event.Type == LoopType {
				for {
					spins++
				}
			}
			return &sdk.Request{Body: in.Event.Data}, nil
		},
	}
}
