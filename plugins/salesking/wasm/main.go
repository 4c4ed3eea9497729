// Command wasm is the SalesKing plugin's WebAssembly entry point: it only registers the plugin.
package main

import (
	"github.com/switchyard/switchyard/plugins/salesking"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(&salesking.Plugin) }

func main() {}
