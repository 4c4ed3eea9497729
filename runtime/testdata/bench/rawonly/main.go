// Command rawonly answers shape without decoding its input: the fixed cost of crossing the ABI.
package main

import (
	"encoding/binary"
	"unsafe"
)

var in, out []byte

var manifest = []byte(`{"name":"rawonly","version":"1","abi":2,"events":[{"type":"*"}]}`)

//go:wasmexport abi_version
func abiVersion() int32 { return 2 }

//go:wasmexport alloc
func alloc(n int32) int32 {
	if cap(in) < int(n) {
		in = make([]byte, n)
	}
	in = in[:n]
	return int32(uintptr(unsafe.Pointer(&in[0])))
}

//go:wasmexport manifest
func exportManifest() int64 {
	return int64(uintptr(unsafe.Pointer(&manifest[0])))<<32 | int64(len(manifest))
}

//go:wasmexport shape
func shape(ptr, n int32) int64 {
	headLen := binary.LittleEndian.Uint32(in)
	body := in[4+headLen : n]
	out = append(out[:0], 2, 0, 0, 0, '{', '}')
	out = append(out, body...)
	return int64(uintptr(unsafe.Pointer(&out[0])))<<32 | int64(len(out))
}

func main() {}
