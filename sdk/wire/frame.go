package wire

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// A frame is what crosses the ABI: a 4-byte little-endian length, a head of that length (JSON, but
// for an input in ABI version 2, whose head is binary: see package sdk), and a payload that runs to
// the end. The payload (an event's data, a request or response body) is never
// escaped or parsed by the frame, so large bodies cost one copy and nothing more.

// ErrFrame is wrapped by errors about malformed frames.
var ErrFrame = errors.New("malformed frame")

const frameHeaderSize = 4

// BeginFrame reserves the head's length prefix at the end of dst and returns where the head starts;
// write the head after it, then call EndHead.
func BeginFrame(dst []byte) ([]byte, int) {
	dst = append(dst, 0, 0, 0, 0)
	return dst, len(dst)
}

// EndHead fills in the length prefix of the head that started at headStart; append the payload next.
func EndHead(dst []byte, headStart int) []byte {
	binary.LittleEndian.PutUint32(dst[headStart-frameHeaderSize:headStart], uint32(len(dst)-headStart))
	return dst
}

// SplitFrame returns the head and payload of frame; both alias it.
func SplitFrame(frame []byte) (head, payload []byte, err error) {
	if len(frame) < frameHeaderSize {
		return nil, nil, Detail(ErrFrame, strconv.Itoa(len(frame))+" bytes is shorter than the length prefix")
	}
	n := binary.LittleEndian.Uint32(frame)
	if uint64(n) > uint64(len(frame)-frameHeaderSize) {
		return nil, nil, Detail(ErrFrame, "head length "+strconv.FormatUint(uint64(n), 10)+" exceeds the "+strconv.Itoa(len(frame)-frameHeaderSize)+" bytes that follow")
	}
	end := frameHeaderSize + int(n)
	return frame[frameHeaderSize:end], frame[end:], nil
}

// Results of ABI calls pack a pointer and a length into one i64: ptr<<32 | len. Bit 31 of the length
// marks the bytes as a JSON error object instead of a result, so lengths are limited to 2 GiB - 1.
const ErrorFlag = 1 << 31

// Pack packs a result's location.
func Pack(ptr, length uint32, isError bool) uint64 {
	v := uint64(ptr)<<32 | uint64(length&^ErrorFlag)
	if isError {
		v |= ErrorFlag
	}
	return v
}

// Unpack is the inverse of Pack.
func Unpack(v uint64) (ptr, length uint32, isError bool) {
	return uint32(v >> 32), uint32(v) &^ ErrorFlag, uint32(v)&ErrorFlag != 0
}
