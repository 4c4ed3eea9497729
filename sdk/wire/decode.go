package wire

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every error the Reader returns for malformed input.
var ErrSyntax = errors.New("invalid JSON")

// maxDepth bounds nesting so hostile input cannot exhaust the stack of whoever parses it.
const maxDepth = 512

// Reader pulls JSON values from a byte slice in order. It is not a general decoder: callers know the
// shape they expect and ask for it, skipping what they do not know, which is what keeps the ABI cheap
// inside the sandbox.
type Reader struct {
	data    []byte
	pos     int
	depth   int
	scratch []byte
	// shared, when set, is data as one string; String returns substrings of it, so reading many
	// fields costs one allocation instead of one each (allocation is dear inside the sandbox).
	shared string
}

// NewReader returns a Reader over data. Byte slices it returns alias data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// NewSharingReader is NewReader for data with many string fields: it copies data into one string up
// front and returns strings that share it. Keeping any one of them keeps all of data alive.
func NewSharingReader(data []byte) *Reader { return &Reader{data: data, shared: string(data)} }

// syntaxError is ErrSyntax at the reader's position, with what it found there.
func (r *Reader) syntaxError(msg string) error {
	return &detailedError{msg: ErrSyntax.Error() + " at offset " + strconv.Itoa(r.pos) + ": " + msg, err: ErrSyntax}
}

// quoteByte quotes c as fmt's %q did before the SDK stopped using fmt, so messages read as before.
func quoteByte(c byte) string { return strconv.QuoteRune(rune(c)) }

func (r *Reader) skipSpace() {
	// Most values follow their separator at once: the ABI's writers emit no whitespace.
	if r.pos < len(r.data) && r.data[r.pos] > ' ' {
		return
	}
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *Reader) peek() byte {
	r.skipSpace()
	if r.pos >= len(r.data) {
		return 0
	}
	return r.data[r.pos]
}

func (r *Reader) expect(c byte) error {
	if r.peek() != c {
		if r.pos >= len(r.data) {
			return r.syntaxError("unexpected end of input, want " + quoteByte(c))
		}
		return r.syntaxError("unexpected " + quoteByte(r.data[r.pos]) + ", want " + quoteByte(c))
	}
	r.pos++
	return nil
}

// End reports an error unless only whitespace remains.
func (r *Reader) End() error {
	r.skipSpace()
	if r.pos != len(r.data) {
		return r.syntaxError("unexpected data after the value")
	}
	return nil
}

// Object reads an object, calling member for each key; member must consume the key's value. The key
// slice is valid only during the call.
func (r *Reader) Object(member func(key []byte) error) error {
	if err := r.expect('{'); err != nil {
		return err
	}
	if r.depth++; r.depth > maxDepth {
		return r.syntaxError("nesting deeper than " + strconv.Itoa(maxDepth))
	}
	defer func() { r.depth-- }()
	if r.peek() == '}' {
		r.pos++
		return nil
	}
	for {
		key, err := r.stringBytes()
		if err != nil {
			return err
		}
		if err := r.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.pos++
		case '}':
			r.pos++
			return nil
		default:
			return r.syntaxError("want ',' or '}' after an object member")
		}
	}
}

// Array reads an array, calling elem for each element; elem must consume it.
func (r *Reader) Array(elem func() error) error {
	if err := r.expect('['); err != nil {
		return err
	}
	if r.depth++; r.depth > maxDepth {
		return r.syntaxError("nesting deeper than " + strconv.Itoa(maxDepth))
	}
	defer func() { r.depth-- }()
	if r.peek() == ']' {
		r.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return nil
		default:
			return r.syntaxError("want ',' or ']' after an array element")
		}
	}
}

// Null consumes a null if one comes next and reports whether it did.
func (r *Reader) Null() bool {
	if r.peek() == 'n' && r.literal("null") == nil {
		return true
	}
	return false
}

// String reads a string value. A null reads as "".
func (r *Reader) String() (string, error) {
	if r.Null() {
		return "", nil
	}
	start := r.pos + 1
	b, err := r.stringBytes()
	if err == nil && r.shared != "" && len(b) > 0 && &b[0] == &r.data[start] {
		return r.shared[start : start+len(b)], nil
	}
	return string(b), err
}

// Int reads an integer value. A null reads as 0.
func (r *Reader) Int() (int64, error) {
	if r.Null() {
		return 0, nil
	}
	start := r.pos
	if err := r.number(); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(r.data[start:r.pos]), 10, 64)
	if err != nil {
		r.pos = start
		return 0, r.syntaxError("want an integer, got " + string(r.data[start:min(len(r.data), start+24)]))
	}
	return n, nil
}

// Bool reads true or false. A null reads as false.
func (r *Reader) Bool() (bool, error) {
	switch r.peek() {
	case 't':
		return true, r.literal("true")
	case 'f':
		return false, r.literal("false")
	case 'n':
		return false, r.literal("null")
	}
	return false, r.syntaxError("want a boolean")
}

// Raw returns the next value's bytes exactly as they appear, after checking they are valid JSON.
func (r *Reader) Raw() ([]byte, error) {
	r.skipSpace()
	start := r.pos
	if err := r.Skip(); err != nil {
		return nil, err
	}
	return r.data[start:r.pos], nil
}

// Skip consumes the next value, whatever it is, checking its syntax.
func (r *Reader) Skip() error {
	switch c := r.peek(); {
	case c == '{':
		return r.Object(func([]byte) error { return r.Skip() })
	case c == '[':
		return r.Array(r.Skip)
	case c == '"':
		_, err := r.stringBytes()
		return err
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	case r.pos >= len(r.data):
		return r.syntaxError("unexpected end of input")
	default:
		return r.syntaxError("unexpected " + quoteByte(c))
	}
}

func (r *Reader) literal(lit string) error {
	if len(r.data)-r.pos < len(lit) || string(r.data[r.pos:r.pos+len(lit)]) != lit {
		return r.syntaxError("want " + lit)
	}
	r.pos += len(lit)
	return nil
}

// number consumes a number with JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *Reader) number() error {
	r.skipSpace()
	start := r.pos
	if r.pos < len(r.data) && r.data[r.pos] == '-' {
		r.pos++
	}
	switch {
	case r.pos < len(r.data) && r.data[r.pos] == '0':
		r.pos++
	case r.pos < len(r.data) && r.data[r.pos] >= '1' && r.data[r.pos] <= '9':
		r.digits()
	default:
		r.pos = start
		return r.syntaxError("want a number")
	}
	if r.pos < len(r.data) && r.data[r.pos] == '.' {
		r.pos++
		if r.digits() == 0 {
			return r.syntaxError("want a digit after the decimal point")
		}
	}
	if r.pos < len(r.data) && (r.data[r.pos] == 'e' || r.data[r.pos] == 'E') {
		r.pos++
		if r.pos < len(r.data) && (r.data[r.pos] == '+' || r.data[r.pos] == '-') {
			r.pos++
		}
		if r.digits() == 0 {
			return r.syntaxError("want a digit in the exponent")
		}
	}
	return nil
}

func (r *Reader) digits() int {
	start := r.pos
	for r.pos < len(r.data) && r.data[r.pos] >= '0' && r.data[r.pos] <= '9' {
		r.pos++
	}
	return r.pos - start
}

// stringBytes reads a string and returns its unescaped bytes: a slice of the input when nothing needs
// unescaping, otherwise the reader's scratch buffer, valid until the next call.
func (r *Reader) stringBytes() ([]byte, error) {
	if err := r.expect('"'); err != nil {
		return nil, err
	}
	// Local copies and a table: the sandbox's compiler keeps neither r's fields nor a chain of
	// comparisons cheap, and every key and string of every call passes through here.
	data, i := r.data, r.pos
	start := i
	ascii := true
	for i < len(data) {
		c := data[i]
		if plainASCII[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			r.pos = i + 1
			if ascii {
				return data[start:i], nil
			}
			return ValidUTF8(data[start:i]), nil
		case c == '\\':
			r.pos = i
			return r.unescape(start)
		case c < 0x20:
			r.pos = i
			return nil, r.syntaxError("control character in string")
		}
		ascii = false
		i++
	}
	r.pos = i
	return nil, r.syntaxError("unterminated string")
}

// ValidUTF8 returns b with each invalid byte replaced by U+FFFD, as encoding/json decodes and as
// AppendString encodes: a string read is the string written back. Without it a plugin could
// return a header that changed between the host's reading and its record (found by
// FuzzDecodeRequest).
func ValidUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		rn, size := utf8.DecodeRune(b[i:])
		if rn == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

func (r *Reader) unescape(start int) ([]byte, error) {
	out := append(r.scratch[:0], r.data[start:r.pos]...)
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == '"':
			r.pos++
			r.scratch = out
			return ValidUTF8(out), nil
		case c < 0x20:
			return nil, r.syntaxError("control character in string")
		case c != '\\':
			out = append(out, c)
			r.pos++
			continue
		}
		if r.pos+1 >= len(r.data) {
			return nil, r.syntaxError("unterminated escape")
		}
		esc := r.data[r.pos+1]
		r.pos += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			cp, ok := r.hex4()
			if !ok {
				return nil, r.syntaxError("invalid \\u escape")
			}
			rn := rune(cp)
			if utf16.IsSurrogate(rn) {
				rn = utf8.RuneError
				if r.pos+1 < len(r.data) && r.data[r.pos] == '\\' && r.data[r.pos+1] == 'u' {
					save := r.pos
					r.pos += 2
					if lo, ok := r.hex4(); ok {
						if dec := utf16.DecodeRune(rune(cp), rune(lo)); dec != utf8.RuneError {
							rn = dec
						} else {
							r.pos = save
						}
					} else {
						r.pos = save
					}
				}
			}
			out = utf8.AppendRune(out, rn)
		default:
			return nil, r.syntaxError("invalid escape \\" + string(rune(esc)))
		}
	}
	return nil, r.syntaxError("unterminated string")
}

func (r *Reader) hex4() (uint16, bool) {
	if len(r.data)-r.pos < 4 {
		return 0, false
	}
	var v uint16
	for _, c := range r.data[r.pos : r.pos+4] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v |= uint16(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	r.pos += 4
	return v, true
}
