// Command badimport imports a host function that does not exist.
package main

import "unsafe"

var buf = make([]byte, 1<<16)

//go:wasmimport switchyard fetch_url
func fetchURL(ptr, n uint32) int32

//go:wasmexport abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport alloc
func alloc(n int32) int32 { return int32(uintptr(unsafe.Pointer(&buf[0]))) }

//go:wasmexport manifest
func exportManifest() int64 { return int64(fetchURL(0, 0)) }

//go:wasmexport shape
func shape(ptr, n int32) int64 { return 0 }

func main() {}
