// Package wire holds the byte-level pieces of the Switchyard plugin ABI: the frame that carries a
// small head beside a raw payload, and a JSON writer and reader that use no reflection (the heads of
// results, and of inputs in ABI version 1, are JSON).
//
// Both sides of the ABI use it: plugins inside the sandbox, where reflection-based encoding/json is
// several times slower than natively, and the host, where every delivery passes through it. Plugin
// authors may use the Writer to build bodies cheaply too.
package wire

import (
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Writer appends JSON to Buf. It tracks only whether a separator is due, so callers are trusted to
// nest Begin/End calls correctly; the ABI's encoders are its main callers and are fuzzed against
// encoding/json.
type Writer struct {
	Buf []byte
	// open is true right after an opening bracket or a key, where no comma may follow.
	open bool
}

// NewWriter returns a Writer that appends to buf.
func NewWriter(buf []byte) *Writer { return &Writer{Buf: buf, open: true} }

// Reset makes the writer append to buf as if new.
func (w *Writer) Reset(buf []byte) { w.Buf, w.open = buf, true }

func (w *Writer) separate() {
	if !w.open {
		w.Buf = append(w.Buf, ',')
	}
	w.open = false
}

func (w *Writer) BeginObject() { w.separate(); w.Buf = append(w.Buf, '{'); w.open = true }
func (w *Writer) EndObject()   { w.Buf = append(w.Buf, '}'); w.open = false }
func (w *Writer) BeginArray()  { w.separate(); w.Buf = append(w.Buf, '['); w.open = true }
func (w *Writer) EndArray()    { w.Buf = append(w.Buf, ']'); w.open = false }

// Key writes an object key; the next value call writes its value.
func (w *Writer) Key(k string) {
	w.separate()
	w.Buf = AppendString(w.Buf, k)
	w.Buf = append(w.Buf, ':')
	w.open = true
}

func (w *Writer) String(s string)      { w.separate(); w.Buf = AppendString(w.Buf, s) }
func (w *Writer) StringBytes(s []byte) { w.separate(); w.Buf = appendStringBytes(w.Buf, s) }
func (w *Writer) Int(i int64)          { w.separate(); w.Buf = strconv.AppendInt(w.Buf, i, 10) }
func (w *Writer) Bool(b bool)          { w.separate(); w.Buf = strconv.AppendBool(w.Buf, b) }
func (w *Writer) Null()                { w.separate(); w.Buf = append(w.Buf, "null"...) }

// Raw writes b, which must already be valid JSON, as a value; empty b is written as null.
func (w *Writer) Raw(b []byte) {
	if len(b) == 0 {
		w.Null()
		return
	}
	w.separate()
	w.Buf = append(w.Buf, b...)
}

// StringField writes "k":"v".
func (w *Writer) StringField(k, v string) { w.Key(k); w.String(v) }

// StringFieldOmitEmpty writes "k":"v" unless v is empty.
func (w *Writer) StringFieldOmitEmpty(k, v string) {
	if v != "" {
		w.StringField(k, v)
	}
}

func (w *Writer) IntField(k string, v int64)    { w.Key(k); w.Int(v) }
func (w *Writer) BoolField(k string, v bool)    { w.Key(k); w.Bool(v) }
func (w *Writer) RawField(k string, raw []byte) { w.Key(k); w.Raw(raw) }

// RawFieldOmitEmpty writes "k":raw unless raw is empty.
func (w *Writer) RawFieldOmitEmpty(k string, raw []byte) {
	if len(raw) != 0 {
		w.RawField(k, raw)
	}
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does, so
// the output is always valid JSON; <, > and & are left alone because payloads are not HTML.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Runs of plain ASCII are found by table and copied at once: byte by byte, with a branch
		// for each, this loop was among the sandbox's costliest (a plugin writes every header and
		// body through it).
		for i < len(s) && plainASCII[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscapedASCII(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript receivers that eval or embed it.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainASCII marks the bytes a JSON string holds as they are: printable ASCII but the quote and
// the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func appendStringBytes(dst, s []byte) []byte {
	// AppendString only reads s, so viewing the bytes as a string saves a copy of every body.
	return AppendString(dst, unsafe.String(unsafe.SliceData(s), len(s)))
}

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
}
