// Command wasm is the ivvy plugin's WebAssembly entry point: it only registers the plugin.
package main

import (
	"github.com/switchyard/switchyard/plugins/ivvy"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(&ivvy.Plugin) }

func main() {}
