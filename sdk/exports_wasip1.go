//go:build wasip1

package sdk

import (
	"runtime"
	"time"
	"unsafe"

	"github.com/switchyard/switchyard/sdk/wire"
)

// One instance serves one call at a time, so a single input and a single output buffer, reused
// from call to call, are all a module needs; reuse keeps the guest's allocator (and its slow GC) out
// of the hot path.
var inBuf, outBuf []byte

//go:wasmexport abi_version
func abiVersion() int32 { return ABIVersion }

//go:wasmexport alloc
func alloc(n int32) int32 {
	if n < 0 {
		n = 0
	}
	if cap(inBuf) < int(n) {
		inBuf = make([]byte, n, max(int(n), 2*cap(inBuf)))
	}
	inBuf = inBuf[:n]
	if n == 0 {
		return 0
	}
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(inBuf))))
}

//go:wasmexport manifest
func exportManifest() int64 { return call(ExportManifest, 0) }

//go:wasmexport shape
func exportShape(_, n int32) int64 { return call(ExportShape, n) }

//go:wasmexport on_subscribe
func exportOnSubscribe(_, n int32) int64 { return call(ExportOnSubscribe, n) }

//go:wasmexport on_response
func exportOnResponse(_, n int32) int64 { return call(ExportOnResponse, n) }

// call runs an export on the input the host wrote into the buffer alloc returned. The pointer the
// host passes back is that buffer's, so only the length is used.
func call(export string, n int32) int64 {
	if registered == nil {
		panic("sdk: no plugin registered; call sdk.Register from an init function")
	}
	if int(n) > len(inBuf) || n < 0 {
		n = 0
	}
	var isErr bool
	outBuf, isErr = registered.Call(export, inBuf[:n], wasmHost{}, outBuf[:0])
	if len(outBuf) == 0 {
		return int64(wire.Pack(0, 0, isErr))
	}
	return int64(wire.Pack(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(outBuf)))), uint32(len(outBuf)), isErr))
}

//go:wasmimport switchyard sign
func hostSign(keyPtr, keyLen, algPtr, algLen, msgPtr, msgLen, outPtr, outCap uint32) int32

//go:wasmimport switchyard now_ms
func hostNowMs() int64

//go:wasmimport switchyard random
func hostRandom(ptr, n uint32)

//go:wasmimport switchyard log
func hostLog(level int32, ptr, n uint32)

// wasmHost is the Host inside the sandbox: the host's import functions.
type wasmHost struct{}

func strPtr(s string) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))) }
func bytesPtr(b []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// signBufSize holds an RSA-4096 signature, the largest the host makes.
const signBufSize = 512

// signBuf receives signatures from the host; Sign returns a copy of the part used.
var signBuf [signBufSize]byte

func (wasmHost) Sign(keyRef, alg string, msg []byte) ([]byte, error) {
	n := hostSign(strPtr(keyRef), uint32(len(keyRef)), strPtr(alg), uint32(len(alg)),
		bytesPtr(msg), uint32(len(msg)), uint32(uintptr(unsafe.Pointer(&signBuf[0]))), signBufSize)
	runtime.KeepAlive(keyRef)
	runtime.KeepAlive(alg)
	runtime.KeepAlive(msg)
	if n < 0 {
		return nil, signError(n)
	}
	return append([]byte(nil), signBuf[:n]...), nil
}

func (wasmHost) Now() time.Time { return time.UnixMilli(hostNowMs()) }

func (wasmHost) Random(p []byte) {
	if len(p) > 0 {
		hostRandom(bytesPtr(p), uint32(len(p)))
	}
}

func (wasmHost) Log(level LogLevel, msg string) {
	hostLog(int32(level), strPtr(msg), uint32(len(msg)))
	runtime.KeepAlive(msg)
}
