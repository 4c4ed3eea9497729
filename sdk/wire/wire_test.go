package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWriterMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	w := NewWriter(nil)
	w.BeginObject()
	w.StringField("plain", "abc")
	w.StringField("escapes", "q\"b\\n\nr\rt\tc\x01\x1f")
	w.StringField("unicode", "hé ✓ \u2028\u2029")
	w.StringField("invalid", "a\xffb")
	w.IntField("int", -42)
	w.BoolField("bool", true)
	w.RawField("raw", []byte(`{"x":[1,2]}`))
	w.RawField("empty", nil)
	w.Key("list")
	w.BeginArray()
	w.String("a")
	w.Int(1)
	w.BeginObject()
	w.EndObject()
	w.EndArray()
	w.EndObject()

	var got map[string]any
	if err := json.Unmarshal(w.Buf, &got); err != nil {
		t.Fatalf("%s: %v", w.Buf, err)
	}
	want := map[string]any{
		"plain": "abc", "escapes": "q\"b\\n\nr\rt\tc\x01\x1f", "unicode": "hé ✓ \u2028\u2029",
		"invalid": "a\ufffdb", "int": float64(-42), "bool": true, "raw": map[string]any{"x": []any{float64(1), float64(2)}},
		"empty": nil, "list": []any{"a", float64(1), map[string]any{}},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("got  %s\nwant %s", gotJSON, wantJSON)
	}
	if !strings.Contains(string(w.Buf), `\u2028`) {
		t.Error("U+2028 must be escaped for JavaScript receivers")
	}
}

func TestReaderReadsWhatItIsAskedFor(t *testing.T) {
	t.Parallel()
	in := []byte(` { "s" : "a\"b\u00e9\ud83d\ude00" , "n": -12, "b": true, "raw": {"k": [1, 2.5e3, null]}, "skip": [{"deep": "x"}], "null": null } `)
	var s, nullStr string
	var n int64
	var b bool
	var raw []byte
	r := NewSharingReader(in)
	err := r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "s":
			s, err = r.String()
		case "n":
			n, err = r.Int()
		case "b":
			b, err = r.Bool()
		case "raw":
			raw, err = r.Raw()
		case "null":
			nullStr, err = r.String()
		default:
			err = r.Skip()
		}
		return err
	})
	if err == nil {
		err = r.End()
	}
	if err != nil {
		t.Fatal(err)
	}
	if s != "a\"bé😀" || n != -12 || !b || string(raw) != `{"k": [1, 2.5e3, null]}` || nullStr != "" {
		t.Errorf("s=%q n=%d b=%v raw=%s null=%q", s, n, b, raw, nullStr)
	}
}

func TestReaderRefusesMalformedInput(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `"\x01"`, `"\q"`, `"\u12"`, `01`, `-`, `1.`, `1e`, `tru`, `{"a":1} x`, strings.Repeat("[", 600) + strings.Repeat("]", 600)} {
		r := NewReader([]byte(in))
		err := r.Skip()
		if err == nil {
			err = r.End()
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("%.40q: err %v, want ErrSyntax", in, err)
		}
	}
}

func TestIntRefusesFractions(t *testing.T) {
	t.Parallel()
	if _, err := NewReader([]byte(`1.5`)).Int(); err == nil {
		t.Error("Int accepted 1.5")
	}
}

func TestFrameAndPacking(t *testing.T) {
	t.Parallel()
	buf, head := BeginFrame([]byte("prefix"))
	buf = append(buf, `{"a":1}`...)
	buf = EndHead(buf, head)
	buf = append(buf, "payload"...)
	h, p, err := SplitFrame(buf[len("prefix"):])
	if err != nil || string(h) != `{"a":1}` || string(p) != "payload" {
		t.Fatalf("head %q payload %q err %v", h, p, err)
	}
	if _, _, err := SplitFrame([]byte{9, 0, 0, 0, '{'}); !errors.Is(err, ErrFrame) {
		t.Errorf("short frame: %v", err)
	}
	for _, tc := range []struct {
		ptr, n uint32
		isErr  bool
	}{{0, 0, false}, {0xFFFFFFFF, ErrorFlag - 1, true}, {1234, 5678, false}} {
		p, n, e := Unpack(Pack(tc.ptr, tc.n, tc.isErr))
		if p != tc.ptr || n != tc.n || e != tc.isErr {
			t.Errorf("Pack/Unpack(%v) = %v %v %v", tc, p, n, e)
		}
	}
}

func TestAppendRFC3339Millis(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		time.Date(2026, 11, 23, 9, 5, 7, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.FixedZone("x", 3600)),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		want := tm.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if got := string(AppendRFC3339Millis(nil, tm)); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// FuzzReader checks the Reader never panics, and agrees with encoding/json on what is valid JSON.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{`{"a":"b","c":[1,2,{"d":null}],"e":-1.5e10}`, `"\ud83d\ude00"`, `[]`, `{"a":"\u0000"}`, `tru`, `{"a":1,}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(data)
		_, err := r.Raw()
		if err == nil {
			err = r.End()
		}
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("Reader says err=%v, encoding/json says valid=%v for %q", err, valid, data)
		}
	})
}

// FuzzStringRoundTrip checks that what the Writer writes, both the Reader and encoding/json read back.
func FuzzStringRoundTrip(f *testing.F) {
	for _, seed := range []string{"", "plain", "q\"\\\n\x00", "é✓\u2028", "\xff\xfe"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendString(nil, s)
		var viaJSON string
		if err := json.Unmarshal(enc, &viaJSON); err != nil {
			t.Fatalf("encoding/json cannot read %q: %v", enc, err)
		}
		got, err := NewSharingReader(enc).String()
		if err != nil || got != viaJSON {
			t.Fatalf("Reader read %q (%v), encoding/json %q", got, err, viaJSON)
		}
	})
}

func TestTimeIsAValueLikeAnyOther(t *testing.T) {
	t.Parallel()
	w := NewWriter(nil)
	w.BeginObject()
	w.Key("at")
	w.Time(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	w.IntField("n", 1)
	w.EndObject()
	if got := string(w.Buf); got != `{"at":"2026-01-02T03:04:05.006Z","n":1}` {
		t.Errorf("got %s", got)
	}
}
