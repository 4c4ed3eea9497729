// Command wasm is the standard plugin's WebAssembly entry point: it only registers the plugin.
package main

import (
	"github.com/switchyard/switchyard/plugins/standard"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(&standard.Plugin) }

func main() {}
