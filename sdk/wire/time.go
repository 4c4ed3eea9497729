package wire

import "time"

// AppendRFC3339Millis appends t in UTC as RFC 3339 with exactly three fractional digits
// ("2006-01-02T15:04:05.000Z"). It does what time.AppendFormat does for that layout without
// interpreting a layout string on every call, which matters inside the sandbox.
func AppendRFC3339Millis(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	ms := t.Nanosecond() / 1e6
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, ms, 3)
	return append(dst, 'Z')
}

// appendDigits appends v, which must be below 10^width, zero-padded to width digits.
func appendDigits(dst []byte, v, width int) []byte {
	var buf [4]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:width]...)
}

// Time writes t as a JSON string in the form of AppendRFC3339Millis.
func (w *Writer) Time(t time.Time) {
	w.separate()
	w.Buf = append(w.Buf, '"')
	w.Buf = AppendRFC3339Millis(w.Buf, t)
	w.Buf = append(w.Buf, '"')
}
