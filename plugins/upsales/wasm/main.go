// Command wasm is the upsales plugin's WebAssembly entry point: it only registers the plugin.
package main

import (
	"github.com/switchyard/switchyard/plugins/upsales"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(&upsales.Plugin) }

func main() {}
