// Command wasm is the CloudEvents plugin's WebAssembly entry point: it only registers the plugin.
// Build it with `switchyard plugin build ./examples/cloudevents -o cloudevents.wasm`.
package main

import (
	"github.com/switchyard/switchyard/examples/cloudevents"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(&cloudevents.Plugin) }

func main() {}
