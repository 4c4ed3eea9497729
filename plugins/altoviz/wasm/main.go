// Command wasm is the altoviz plugin's WebAssembly entry point: it only registers the plugin.
package main

import (
	"github.com/switchyard/switchyard/plugins/altoviz"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(&altoviz.Plugin) }

func main() {}
