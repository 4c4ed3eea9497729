// Command abimismatch says one ABI version in abi_version and another in its manifest.
package main

import "unsafe"

var buf = make([]byte, 1<<16)

var manifest = []byte(`{"name":"abimismatch","version":"1","abi":1,"events":[{"type":"*"}]}`)

//go:wasmexport abi_version
func abiVersion() int32 { return 2 }

//go:wasmexport alloc
func alloc(n int32) int32 { return int32(uintptr(unsafe.Pointer(&buf[0]))) }

//go:wasmexport manifest
func exportManifest() int64 {
	return int64(uintptr(unsafe.Pointer(&manifest[0])))<<32 | int64(len(manifest))
}

//go:wasmexport shape
func shape(ptr, n int32) int64 { return 0 }

func main() {}
