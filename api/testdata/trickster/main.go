// Command trickster passes validation (its sample event is harmless) and then misbehaves on the
// events that ask it to, the way the runtime's hostile test modules do: "do" in the event's data
// picks loop, membomb, panic, nilderef or bigoutput. Anything else is shaped normally.
package main

import (
	"bytes"

	"github.com/switchyard/switchyard/sdk"
)

var (
	spins int
	hoard [][]byte
	cfg   *struct{ url string }
)

func init() {
	sdk.Register(&sdk.Plugin{
		Manifest: sdk.Manifest{
			Name: "trickster", Version: "1", Events: []sdk.EventType{{Type: "*"}},
			SampleEvent: []byte(`{"type":"client.create","data":{"do":"nothing"}}`),
		},
		Shape: func(in *sdk.Input) (*sdk.Request, error) {
			switch do := in.Event.Data; {
			case bytes.Contains(do, []byte(`"do":"loop"`)):
				for {
					spins++
				}
			case bytes.Contains(do, []byte(`"do":"membomb"`)):
				for {
					hoard = append(hoard, make([]byte, 1<<20))
				}
			case bytes.Contains(do, []byte(`"do":"panic"`)):
				panic("trickster gave up on " + in.Event.ID)
			case bytes.Contains(do, []byte(`"do":"nilderef"`)):
				return &sdk.Request{URL: cfg.url}, nil
			case bytes.Contains(do, []byte(`"do":"bigoutput"`)):
				return &sdk.Request{Body: make([]byte, 16<<20)}, nil
			}
			return &sdk.Request{Body: in.Event.Data}, nil
		},
	})
}

func main() {}
