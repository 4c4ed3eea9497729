// Command wasm is the quicklysign plugin's WebAssembly entry point: it only registers the plugin.
package main

import (
	"github.com/switchyard/switchyard/plugins/quicklysign"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(&quicklysign.Plugin) }

func main() {}
