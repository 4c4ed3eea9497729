package sdk

// registered is the plugin a wasm module serves; Register sets it from the module's init.
var registered *Plugin

// Register makes p the plugin this module serves. Call it once, from an init function of the wasm
// entry point's main package.
func Register(p *Plugin) {
	if registered != nil {
		panic("sdk: Register called twice; a module serves one plugin")
	}
	if p == nil || p.Shape == nil {
		panic("sdk: Register needs a plugin with a Shape function")
	}
	registered = p
}
