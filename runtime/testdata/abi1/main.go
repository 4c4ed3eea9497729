// Command abi1 is a plugin as an SDK of ABI version 1 built it: it says version 1 and reads the
// JSON input head. Its shape sends that head back as the body, so a test sees what the host wrote.
package main

import (
	"encoding/binary"
	"unsafe"
)

var in, out []byte

var manifest = []byte(`{"name":"abi1","version":"1","abi":1,"events":[{"type":"*"}]}`)

//go:wasmexport abi_version
func abiVersion() int32 { return 1 }

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
	head := in[4 : 4+headLen]
	const request = `{"method":"POST"}`
	out = binary.LittleEndian.AppendUint32(out[:0], uint32(len(request)))
	out = append(out, request...)
	out = append(out, head...)
	return int64(uintptr(unsafe.Pointer(&out[0])))<<32 | int64(len(out))
}

func main() {}
